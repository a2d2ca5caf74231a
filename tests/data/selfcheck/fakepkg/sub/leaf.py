from .. import fine  # relative, two levels


def later():
    from os.path import join  # a name of a module, not a module

    return join, fine
