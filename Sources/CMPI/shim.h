// Open MPI's handles (MPI_COMM_WORLD, MPI_BYTE, MPI_DOUBLE, ...) are macros over the addresses of
// library globals, which Swift cannot import; these inline functions hand them over. Only the
// calls dcot uses (Sources/Distributed) are wrapped; everything else is imported from mpi.h as is.
#pragma once
#include <mpi.h>

static inline MPI_Comm dcot_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype dcot_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype dcot_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype dcot_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype dcot_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Request dcot_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *dcot_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline int dcot_mpi_success(void) { return MPI_SUCCESS; }
static inline int dcot_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
