def never_called():
    import prefect_rollback_no_such_module  # noqa: F401  (what a build that left it out looks like)


class Holder:
    def method(self):
        from os import no_such_name  # noqa: F401

        return self
