"""Emulations of instruments we do not have, standing at their own wire protocol."""
