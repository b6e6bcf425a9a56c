"""Studies: a grid of datasets x settings x seeds, each cell an ordinary run folder,
run on this machine or as one SLURM job array, and summarised into the tables and tests
a paper needs (``spec`` -> ``cell`` -> ``local`` / ``slurm`` -> ``report``)."""
