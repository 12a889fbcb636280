#include <doctest/doctest.h>
int placeholder;
