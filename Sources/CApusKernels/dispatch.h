// Run-time choice of instruction set. A kernel body is written once as an always-inline
// function; APUS_VARIANTS compiles it three times (AVX-512, AVX2+FMA, baseline) and the
// exported function calls the best one this CPU supports.
#ifndef APUS_DISPATCH_H
#define APUS_DISPATCH_H
#include "apus_kernels.h"

#define APUS_INLINE static inline __attribute__((always_inline))

#define APUS_VARIANTS(name, params, args)                                                  \
    __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma,bmi2")))                     \
    static void name##_avx512 params { name##_body args; }                                   \
    __attribute__((target("avx2,fma"))) static void name##_avx2 params { name##_body args; } \
    static void name##_base params { name##_body args; }                                     \
    void name params {                                                                       \
        int level = apus_cpu_level();                                                        \
        if (level == 2) name##_avx512 args;                                                  \
        else if (level == 1) name##_avx2 args;                                               \
        else name##_base args;                                                               \
    }
#endif
