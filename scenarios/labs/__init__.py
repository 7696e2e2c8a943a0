"""Labs: the twin lab (all simulated on loopback), the bench lab (the real bench), lab files, serving a lab."""
