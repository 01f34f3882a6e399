"""Intake service: receives dossiers at the desk, online and by post, and checks them against the
procedure catalogue."""
