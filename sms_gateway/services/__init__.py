"""The service layer: the only code that opens and commits transactions."""
