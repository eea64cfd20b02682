"""Boards in a labgrid farm (docs/farm.md): places reserved, acquired and released through
the coordinator, their serial ports opened over RFC 2217, wedged boards power-cycled
through the place's power switch, jobs spread over every free place of a board kind."""
