# The search-overhead benchmark's space (bench/search_overhead): two floats
# and no network, scored by a no-op objective, (x - 2)^2 + (y + 1)^2.
# optuna_overhead.py defines the same two parameters.
space overhead

hparam x = float(-10, 10)
hparam y = float(-10, 10)

objective minimize loss
