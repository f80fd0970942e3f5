// The C side of ApusDistributed: Open MPI's predefined handles as functions (in mpi.h they are
// macros that cast the address of a global, which Swift cannot import), and the line a rank
// prints when mpirun stops it.
#ifndef APUS_MPI_H
#define APUS_MPI_H

#include <mpi.h>

MPI_Comm apus_mpi_comm_world(void);
MPI_Comm apus_mpi_comm_null(void);
MPI_Datatype apus_mpi_float(void);
MPI_Datatype apus_mpi_double(void);
MPI_Datatype apus_mpi_int64(void);
MPI_Op apus_mpi_sum(void);
MPI_Errhandler apus_mpi_errors_return(void);
MPI_Request apus_mpi_request_null(void);
void *apus_mpi_in_place(void);
MPI_Status *apus_mpi_status_ignore(void);
int apus_mpi_max_error_string(void);

/// Makes SIGTERM write `note` (up to 511 bytes) to stderr and exit with status 143 (128 +
/// SIGTERM), unless the program already handles or ignores SIGTERM. When one rank of a job
/// dies, mpirun stops the others with SIGTERM, and by default they vanish without a word.
/// Returns 1 when installed.
int apus_install_termination_note(const char *note);

#endif
