"""Printable documents and reports (XLSX/PDF): templates, fonts, one renderer, one streaming
spreadsheet writer."""
