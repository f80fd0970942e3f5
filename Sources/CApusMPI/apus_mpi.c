#include "apus_mpi.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

MPI_Comm apus_mpi_comm_world(void) { return MPI_COMM_WORLD; }
MPI_Comm apus_mpi_comm_null(void) { return MPI_COMM_NULL; }
MPI_Datatype apus_mpi_float(void) { return MPI_FLOAT; }
MPI_Datatype apus_mpi_double(void) { return MPI_DOUBLE; }
MPI_Datatype apus_mpi_int64(void) { return MPI_INT64_T; }
MPI_Op apus_mpi_sum(void) { return MPI_SUM; }
MPI_Errhandler apus_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
MPI_Request apus_mpi_request_null(void) { return MPI_REQUEST_NULL; }
void *apus_mpi_in_place(void) { return MPI_IN_PLACE; }
MPI_Status *apus_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
int apus_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }

static char termination_note[512];

/* Only async-signal-safe calls: write and _exit. */
static void termination_handler(int signal_number) {
    (void)signal_number;
    ssize_t written = write(STDERR_FILENO, termination_note, strlen(termination_note));
    (void)written;
    _exit(143);
}

int apus_install_termination_note(const char *note) {
    struct sigaction current;
    if (sigaction(SIGTERM, NULL, &current) != 0 || current.sa_handler != SIG_DFL) return 0;
    strncpy(termination_note, note, sizeof termination_note - 1);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = termination_handler;
    sigemptyset(&action.sa_mask);
    return sigaction(SIGTERM, &action, NULL) == 0;
}
