//! mosx-slurm: submit, follow and cancel Slurm jobs through the cluster's own commands.
