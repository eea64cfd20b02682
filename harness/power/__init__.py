"""Power monitors (acquire a `Trace`) and the energy arithmetic (`energy.py`)."""
