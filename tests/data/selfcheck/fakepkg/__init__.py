# A package for tests/test_selfcheck.py: imports at module level, inside functions, relative ones.
