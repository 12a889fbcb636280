// One background thread running queued jobs in order, with a bounded queue:
// post() refuses (returns false) when it is full, so a flood of work is shed
// instead of growing memory. Used to keep slow jobs (admission of forwarded
// transactions, serving blocks to a peer, a follower's preparing of blocks)
// off the transport, consensus and apply threads. Thread-safe; stop() runs
// no further jobs and joins.
#pragma once

#include <pthread.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace custos::node {

// Names the calling thread as `top -H`, perf and gdb show it (at most 15
// characters).
inline void name_this_thread(const char* name) {
  pthread_setname_np(pthread_self(), name);
}

class Worker {
 public:
  // `name`: the thread's, at most 15 characters; a string literal (the
  // thread reads it after the constructor returns).
  explicit Worker(std::size_t jobs_max, const char* name = "custos-worker")
      : jobs_max_(jobs_max), thread_([this, name] {
          name_this_thread(name);
          run();
        }) {}
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker() { stop(); }

  bool post(std::function<void()> job) {
    {
      std::lock_guard lock(mu_);
      if (stopping_ || jobs_.size() >= jobs_max_) return false;
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
    return true;
  }

  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      jobs_.clear();
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
        if (stopping_) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  const std::size_t jobs_max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members it uses
};

}  // namespace custos::node
