"""Test and benchmark helpers that build tiny real models at run time (no hub, no weights download)."""
