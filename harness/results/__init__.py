"""Result rows, run metadata and their storage."""
