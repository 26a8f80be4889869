/*
 * engram.h — the C ABI of libengram, the contract every caller sees.
 *
 * Conventions
 *  - Every function returns engram_status (ENGRAM_OK == 0). On any other status,
 *    engram_last_error() returns a message for the calling thread that names the
 *    offending argument. The library never aborts and never prints.
 *  - Tensors are raw pointers, row-major and contiguous, with sizes passed beside
 *    them. On a CPU context they are host pointers; on a CUDA context every tensor
 *    argument of an op (inputs, outputs, gradients) is a device pointer.
 *  - Enum values are fixed forever: new values are appended, never reordered.
 *  - Structs that the caller fills carry `struct_size`; set it with the matching
 *    *_init function (or to sizeof) so a layout mismatch is reported, not misread.
 *  - A context may be shared by threads; calls on one context are serialised.
 *    Different contexts run concurrently.
 */
#ifndef ENGRAM_H
#define ENGRAM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  if defined(ENGRAM_BUILDING_LIBRARY)
#    define ENGRAM_API __declspec(dllexport)
#  else
#    define ENGRAM_API __declspec(dllimport)
#  endif
#else
#  define ENGRAM_API __attribute__((visibility("default")))
#endif

/* Bumped whenever a struct layout or a function signature changes. Version 2:
   op families (per-op capability query, generic op stats, engram_dtype_bits),
   CCE scratch budget. */
#define ENGRAM_ABI_VERSION 2
#define ENGRAM_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------------- */
/* Status, dtypes, backends                                                   */
/* ------------------------------------------------------------------------- */

/* Enums are 32-bit. In C++ they get int32_t as their fixed underlying type, so
   that any value a C or P/Invoke caller passes is a valid value to inspect
   (and reject), not undefined behaviour. */
#ifdef __cplusplus
#define ENGRAM_ENUM(name) enum name : int32_t
#else
#define ENGRAM_ENUM(name) enum name
#endif

typedef ENGRAM_ENUM(engram_status) {
    ENGRAM_OK = 0,
    ENGRAM_ERR_INVALID_ARGUMENT = 1, /* null pointer, bad size, bad option value      */
    ENGRAM_ERR_OUT_OF_RANGE = 2,     /* an id (target, device) outside its range       */
    ENGRAM_ERR_UNSUPPORTED = 3,      /* dtype/feature/backend not in this build         */
    ENGRAM_ERR_NO_DEVICE = 4,        /* CUDA asked for, but no driver or device          */
    ENGRAM_ERR_OUT_OF_MEMORY = 5,    /* host or device allocation failed                 */
    ENGRAM_ERR_DEVICE = 6,           /* a CUDA runtime call failed                       */
    ENGRAM_ERR_WRONG_BACKEND = 7,    /* e.g. a device call on a CPU context, host pointer
                                        passed to a CUDA op                              */
    ENGRAM_ERR_INTERNAL = 8          /* a bug in engram: please report it                */
} engram_status;

typedef ENGRAM_ENUM(engram_dtype) {
    ENGRAM_DTYPE_F32 = 0,
    ENGRAM_DTYPE_F16 = 1,
    ENGRAM_DTYPE_BF16 = 2,
    ENGRAM_DTYPE_I32 = 3,
    ENGRAM_DTYPE_I64 = 4,
    ENGRAM_DTYPE_U2 = 5   /* packed unsigned 2-bit codes, 16 per 32-bit word (see
                             the 2-bit weight family for the bit order)          */
} engram_dtype;

typedef ENGRAM_ENUM(engram_backend) {
    ENGRAM_BACKEND_CPU = 0,
    ENGRAM_BACKEND_CUDA = 1
} engram_backend;

/* ------------------------------------------------------------------------- */
/* Library information                                                         */
/* ------------------------------------------------------------------------- */

/* "MAJOR.MINOR.PATCH"; static storage. */
ENGRAM_API const char* engram_version(void);
/* ENGRAM_ABI_VERSION of the library that was loaded (compare with the header). */
ENGRAM_API int32_t engram_abi_version(void);
/* Message of the last failing call on this thread ("" if none); valid until the
   next engram call on this thread. */
ENGRAM_API const char* engram_last_error(void);
/* Static name of a status, e.g. "ENGRAM_ERR_INVALID_ARGUMENT". */
ENGRAM_API const char* engram_status_string(engram_status status);
/* Bytes per element of a dtype; 0 for an unknown dtype and for packed dtypes
   smaller than a byte (use engram_dtype_bits). */
ENGRAM_API size_t engram_dtype_size(engram_dtype dtype);
/* Bits per element of a dtype (2 for ENGRAM_DTYPE_U2), 0 for an unknown dtype. */
ENGRAM_API int32_t engram_dtype_bits(engram_dtype dtype);

typedef ENGRAM_ENUM(engram_cpu_isa) {
    ENGRAM_CPU_ISA_SCALAR = 0,
    ENGRAM_CPU_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
    ENGRAM_CPU_ISA_AVX512 = 2, /* AVX-512 F/BW/DQ/VL  */
    ENGRAM_CPU_ISA_AVX512_BF16 = 3 /* AVX-512 + AVX512_BF16 (VDPBF16PS): bf16 inputs use it */
} engram_cpu_isa;

typedef struct engram_capabilities {
    uint32_t struct_size;       /* set by caller (engram_capabilities_init)          */
    int32_t abi_version;
    int32_t has_cpu;            /* always 1                                           */
    int32_t cuda_built;         /* 1 if this library contains the CUDA backend       */
    int32_t cuda_device_count;  /* usable devices now (0 without driver/GPU)         */
    int32_t cpu_isa;            /* engram_cpu_isa chosen at run time                 */
    int32_t cpu_threads;        /* default worker threads of a CPU context           */
    uint32_t cpu_dtypes;        /* bit (1 << engram_dtype) per supported input dtype */
    uint32_t cuda_dtypes;       /* same for the CUDA backend (0 if not built)        */
    int32_t reserved;
    char cpu_name[128];
    char cuda_status[128];      /* why cuda_device_count is 0, or "ok"              */
} engram_capabilities;

ENGRAM_API engram_status engram_capabilities_init(engram_capabilities* caps);
ENGRAM_API engram_status engram_get_capabilities(engram_capabilities* caps);

typedef struct engram_device_info {
    uint32_t struct_size;
    int32_t device;
    int32_t sm_count;
    int32_t cc_major;
    int32_t cc_minor;
    int32_t reserved;
    uint64_t total_memory;
    uint64_t free_memory;
    char name[256];
} engram_device_info;

ENGRAM_API engram_status engram_device_info_init(engram_device_info* info);
/* Properties of CUDA device `device`. ENGRAM_ERR_UNSUPPORTED without the CUDA
   backend, ENGRAM_ERR_NO_DEVICE without driver/GPU, ENGRAM_ERR_OUT_OF_RANGE for
   a bad index. */
ENGRAM_API engram_status engram_cuda_device_info(int32_t device, engram_device_info* info);

/* Size and field offsets of the ABI structs, so bindings can test their layout.
   `struct_name` is e.g. "engram_cce_options"; `field` NULL asks for sizeof. */
ENGRAM_API engram_status engram_struct_layout(const char* struct_name, const char* field,
                                              uint64_t* value);

/* ------------------------------------------------------------------------- */
/* Contexts                                                                    */
/* ------------------------------------------------------------------------- */

/* Owns a backend: for CPU a worker pool; for CUDA a device and a stream. */
typedef struct engram_context engram_context;

/* device: ignored for CPU; CUDA device ordinal for CUDA. A CPU context starts
   one worker per CPU this process may run on; ENGRAM_ERR_OUT_OF_MEMORY if the
   threads cannot be started (e.g. under an address-space or pids limit). */
ENGRAM_API engram_status engram_context_create(engram_backend backend, int32_t device,
                                               engram_context** out);
/* NULL is accepted and ignored. */
ENGRAM_API engram_status engram_context_destroy(engram_context* ctx);
ENGRAM_API engram_status engram_context_get_backend(engram_context* ctx, engram_backend* out);
/* CPU worker threads; 0 restores the default (all cores). If the new threads
   cannot be started: ENGRAM_ERR_OUT_OF_MEMORY, and the context keeps its
   previous threads, still usable. */
ENGRAM_API engram_status engram_context_set_threads(engram_context* ctx, int32_t threads);
ENGRAM_API engram_status engram_context_get_threads(engram_context* ctx, int32_t* threads);
/* CUDA: run ops on the caller's cudaStream_t (NULL restores the context's own). */
ENGRAM_API engram_status engram_context_set_stream(engram_context* ctx, void* stream);
ENGRAM_API engram_status engram_context_get_stream(engram_context* ctx, void** stream);

/* Scratch memory that engram itself allocated on this context (host memory for
   CPU, device memory for CUDA) — what an op costs beyond its inputs/outputs. */
typedef struct engram_memory_stats {
    uint32_t struct_size;
    int32_t reserved;
    uint64_t current_bytes;
    uint64_t peak_bytes;        /* since creation or the last reset */
    uint64_t allocations;       /* count since creation              */
} engram_memory_stats;

ENGRAM_API engram_status engram_memory_stats_init(engram_memory_stats* stats);
ENGRAM_API engram_status engram_context_get_memory_stats(engram_context* ctx,
                                                         engram_memory_stats* stats);
ENGRAM_API engram_status engram_context_reset_peak_memory(engram_context* ctx);

/* ------------------------------------------------------------------------- */
/* Ops: the library's op families, what each backend supports, op stats       */
/* ------------------------------------------------------------------------- */

/* Every entry point that computes is an op with a fixed id. Ids are grouped by
   family in blocks of 100 (the family headers define them: 100-199 CCE,
   200-299 recurrent scans, 300-399 sparse attention, 400-499 2-bit weights);
   0 is "no op". */
typedef int32_t engram_op;
#define ENGRAM_OP_NONE 0

/* Name of an op, e.g. "cce_forward", and of its family, e.g. "cce"; static
   storage; NULL for an id this library does not know. */
ENGRAM_API const char* engram_op_name(engram_op op);
ENGRAM_API const char* engram_op_family(engram_op op);
/* The ops of this library in id order: up to `capacity` ids into `ops` (may be
   NULL when capacity is 0), the total count into *count. */
ENGRAM_API engram_status engram_op_list(engram_op* ops, int32_t capacity, int32_t* count);
/* Can `backend` of this library run `op` with inputs of `dtype` (the op's main
   input dtype, as its header says)? ENGRAM_OK if so. Otherwise
   ENGRAM_ERR_UNSUPPORTED (not in this build, or not that dtype) or
   ENGRAM_ERR_NO_DEVICE (CUDA built but no usable device), with the reason in
   engram_last_error(). ENGRAM_ERR_INVALID_ARGUMENT for an unknown op, backend
   or dtype. */
ENGRAM_API engram_status engram_op_supported(engram_backend backend, engram_op op,
                                             engram_dtype dtype);

/* What the last op on this context did, for profiling: which op, on which
   backend, and named counters the op defines (e.g. CCE's "blocks_skipped" by
   its gradient filter). Counter names are documented with each op. */
#define ENGRAM_OP_COUNTERS 8
typedef struct engram_op_counter {
    char name[24];              /* NUL-terminated; "" for an unused slot          */
    uint64_t value;
} engram_op_counter;

typedef struct engram_op_stats {
    uint32_t struct_size;
    engram_op op;               /* ENGRAM_OP_NONE before the context's first op */
    int32_t backend;            /* engram_backend it ran on                       */
    int32_t counter_count;      /* counters[0 .. counter_count) are set           */
    engram_op_counter counters[ENGRAM_OP_COUNTERS];
} engram_op_stats;

ENGRAM_API engram_status engram_op_stats_init(engram_op_stats* stats);
ENGRAM_API engram_status engram_context_get_op_stats(engram_context* ctx, engram_op_stats* stats);
/* The value of counter `name` in stats; ENGRAM_ERR_INVALID_ARGUMENT if the op
   that filled them has no such counter. */
ENGRAM_API engram_status engram_op_stats_counter(const engram_op_stats* stats, const char* name,
                                                 uint64_t* value);

/* ------------------------------------------------------------------------- */
/* Device memory, copies and timing (CUDA contexts only;                      */
/* ENGRAM_ERR_WRONG_BACKEND on a CPU context)                                  */
/* ------------------------------------------------------------------------- */

ENGRAM_API engram_status engram_device_alloc(engram_context* ctx, uint64_t bytes, void** out);
/* NULL is accepted and ignored. */
ENGRAM_API engram_status engram_device_free(engram_context* ctx, void* ptr);
/* Copies are ordered on the context's stream and complete before returning. */
ENGRAM_API engram_status engram_copy_to_device(engram_context* ctx, void* dst, const void* src,
                                               uint64_t bytes);
ENGRAM_API engram_status engram_copy_to_host(engram_context* ctx, void* dst, const void* src,
                                             uint64_t bytes);
ENGRAM_API engram_status engram_device_memset(engram_context* ctx, void* dst, int32_t value,
                                              uint64_t bytes);
ENGRAM_API engram_status engram_synchronize(engram_context* ctx);

typedef struct engram_event engram_event;
ENGRAM_API engram_status engram_event_create(engram_context* ctx, engram_event** out);
ENGRAM_API engram_status engram_event_destroy(engram_event* event);
/* Records on the context's stream. */
ENGRAM_API engram_status engram_event_record(engram_context* ctx, engram_event* event);
/* Waits for `end`, then gives the milliseconds between the two records. */
ENGRAM_API engram_status engram_event_elapsed_ms(engram_event* start, engram_event* end,
                                                 float* ms);

#ifdef __cplusplus
} /* extern "C" */
#endif

/* The op families, one header each. */
#include "engram_cce.h"
#include "engram_scan.h"
#include "engram_qmatmul.h"
#include "engram_attention.h"

#endif /* ENGRAM_H */
