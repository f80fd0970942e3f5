// Arena placement for the graph executor: before running one node, the executor names the
// arena addresses planned for the node's outputs; the next allocations of those exact sizes
// on the same thread take them instead of asking the caching allocator. Thread-local, so
// worker threads never see another thread's placements.
#include "apus_kernels.h"

#define APUS_MAX_PLACEMENTS 16

static _Thread_local int placement_count;
static _Thread_local void *placement_pointers[APUS_MAX_PLACEMENTS];
static _Thread_local int64_t placement_sizes[APUS_MAX_PLACEMENTS];
static _Thread_local int placement_held;

int apus_placement_set(int count, void *const *pointers, const int64_t *sizes) {
    if (count > APUS_MAX_PLACEMENTS) count = APUS_MAX_PLACEMENTS;
    for (int i = 0; i < count; i++) {
        placement_pointers[i] = pointers[i];
        placement_sizes[i] = sizes[i];
    }
    placement_count = count;
    return count;
}

void *apus_placement_take(int64_t size) {
    if (placement_held) return 0;
    for (int i = 0; i < placement_count; i++) {
        if (placement_sizes[i] == size) {
            void *p = placement_pointers[i];
            placement_count--;
            placement_pointers[i] = placement_pointers[placement_count];
            placement_sizes[i] = placement_sizes[placement_count];
            return p;
        }
    }
    return 0;
}

void apus_placement_clear(void) { placement_count = 0; }

void apus_placement_hold(int hold) { placement_held += hold ? 1 : -1; }

static int64_t storage_serial;

int64_t apus_next_serial(void) { return __atomic_add_fetch(&storage_serial, 1, __ATOMIC_RELAXED); }
