"""Contact lists: CSV import into recipients."""

from dialer.lists.errors import ListImportError
from dialer.lists.importer import ImportOptions, ImportResult, import_list

__all__ = ["ImportOptions", "ImportResult", "ListImportError", "import_list"]
