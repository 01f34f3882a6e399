"""Routing service: moves dossiers between agencies along procedure routes, with statutory deadlines."""
