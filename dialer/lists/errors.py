"""Errors that stop an import before anything is written."""


class ListImportError(Exception):
    """A fatal problem with the file or the request; nothing was imported.

    The message is meant for the operator: it says what is wrong and, where it can, how to fix
    it.
    """
