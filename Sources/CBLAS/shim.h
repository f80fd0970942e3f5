#include <cblas.h>

// OpenBLAS (DYNAMIC_ARCH builds) entry points used to re-pick its kernels when the library
// does not recognise this CPU and falls back to its slowest (Prescott) kernels.
char *openblas_get_corename(void);
void gotoblas_dynamic_init(void);
void gotoblas_dynamic_quit(void);
