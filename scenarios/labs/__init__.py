"""Labs: the twin lab (everything simulated on loopback), the bench lab (the real bench), lab files and serving a lab."""
