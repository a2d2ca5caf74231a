import json


def later():
    import concurrent.futures  # only when called

    return concurrent.futures, json
