// Open MPI's C API (mpi.h) for ApusDistributed; its handles (MPI_COMM_WORLD, MPI_FLOAT, …) are
// macros Swift cannot import, so CApusMPI returns them from functions.
#include <mpi.h>
