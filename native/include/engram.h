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

/* Bumped whenever a struct layout or a function signature changes. */
#define ENGRAM_ABI_VERSION 1
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
    ENGRAM_DTYPE_I64 = 4
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
/* Bytes per element of a dtype, 0 for an unknown dtype. */
ENGRAM_API size_t engram_dtype_size(engram_dtype dtype);

typedef ENGRAM_ENUM(engram_cpu_isa) {
    ENGRAM_CPU_ISA_SCALAR = 0,
    ENGRAM_CPU_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
    ENGRAM_CPU_ISA_AVX512 = 2  /* AVX-512 F/BW/DQ/VL  */
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

/* What the last op on this context did, for profiling (e.g. gradient filtering). */
typedef struct engram_op_stats {
    uint32_t struct_size;
    int32_t reserved;
    uint64_t blocks_total;      /* logit blocks visited in the gradient pass  */
    uint64_t blocks_skipped;    /* ... of which skipped by the gradient filter */
    uint64_t tokens_valid;      /* tokens not equal to ignore_index            */
} engram_op_stats;

ENGRAM_API engram_status engram_op_stats_init(engram_op_stats* stats);
ENGRAM_API engram_status engram_context_get_op_stats(engram_context* ctx, engram_op_stats* stats);

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

/* ------------------------------------------------------------------------- */
/* Fused linear cross-entropy (CCE, "Cut Your Losses")                        */
/*                                                                             */
/* logits z[i, j] = e[i, :] . c[j, :] + bias[j], optionally softcapped:       */
/*   z <- softcap * tanh(z / softcap).                                         */
/* loss_i = (1 - s) (lse_i - z[i, t_i]) + s (lse_i - mean_j z[i, j])           */
/*          + z_loss * lse_i^2                                                 */
/* with s = label_smoothing and lse_i = log sum_j exp z[i, j]. The N x V logit */
/* matrix is never stored: logits are computed block by block and reduced     */
/* with an online log-sum-exp. Accumulation is fp32 for every input dtype.    */
/*                                                                             */
/* Non-finite values, the same on every backend and CPU ISA, as PyTorch's     */
/* torch.logsumexp and autograd compute this formula:                         */
/*  - a NaN anywhere in a token's logits makes its lse and loss NaN, and its  */
/*    gradient row NaN (the gradient filter never skips a NaN);               */
/*  - a +inf logit (and no NaN) gives lse = +inf and loss = +inf, or NaN when */
/*    the target's logit is the +inf one; exp(z - lse) is then NaN at the     */
/*    +inf column and 0 elsewhere;                                             */
/*  - -inf logits contribute nothing (e.g. masked vocabulary entries); a token */
/*    whose logits are all -inf gets lse = -inf and loss NaN;                 */
/*  - softcap maps +-inf to +-softcap and NaN to NaN.                         */
/* Determinism: on CPU, results are bit-identical run to run for a given      */
/* thread count (not across thread counts: the vocabulary is split among the */
/* workers). Every pass of a call computes the same logits bit for bit, so    */
/* a backward given the forward's lse sees exactly the forward's logits.     */
/* ------------------------------------------------------------------------- */

typedef ENGRAM_ENUM(engram_reduction) {
    ENGRAM_REDUCTION_NONE = 0, /* loss has n entries                               */
    ENGRAM_REDUCTION_SUM = 1,  /* loss has 1 entry                                 */
    ENGRAM_REDUCTION_MEAN = 2  /* 1 entry: sum / number of non-ignored tokens (0 if
                                  all are ignored)                               */
} engram_reduction;

/* filter_eps value meaning "choose by dtype": 0 for f32 (exact), 2^-12 for
   bf16, 2^-11 for f16. */
#define ENGRAM_FILTER_EPS_AUTO (-1.0f)

typedef struct engram_cce_options {
    uint32_t struct_size;
    int32_t reduction;          /* engram_reduction; default MEAN                    */
    int64_t ignore_index;       /* default -100: such tokens cost no compute and get
                                   zero loss, zero lse and zero gradient             */
    float softcap;              /* > 0 enables tanh softcapping; 0 = off             */
    float label_smoothing;      /* in [0, 1); 0 = off                                */
    float z_loss;               /* coefficient of lse^2; 0 = off                     */
    float filter_eps;           /* gradient filter: a logit block whose every
                                   |dloss/dlogit| (before the upstream gradient) is
                                   below it is skipped. 0 = exact, <0 = AUTO          */
    int32_t check_targets;      /* 1 (default): validate target ids (on CUDA this
                                   synchronises the stream once); 0: trust them.
                                   (CUDA backward and forward_backward also
                                   synchronise once at the end to fill the op
                                   stats.)                                          */
    int32_t reserved;
} engram_cce_options;

/* The problem: hidden states e [n, d], classifier rows c [v, d], optional bias
   [v], targets [n]. For a vocabulary shard, c holds rows
   [vocab_start, vocab_start + v) of a vocabulary of vocab_total ids, and targets
   are global ids. Unsharded: vocab_start = 0, vocab_total = 0 (means v). */
typedef struct engram_cce_inputs {
    uint32_t struct_size;
    int32_t dtype;              /* engram_dtype of e, c, bias: F32, F16 or BF16      */
    int32_t target_dtype;       /* ENGRAM_DTYPE_I32 or ENGRAM_DTYPE_I64              */
    int32_t reserved;
    int64_t n;                  /* tokens                                            */
    int64_t d;                  /* hidden size                                       */
    int64_t v;                  /* classifier rows held                              */
    int64_t vocab_start;
    int64_t vocab_total;
    const void* e;
    const void* c;
    const void* bias;           /* NULL: no bias                                     */
    const void* targets;
} engram_cce_inputs;

/* Gradient outputs; each may be NULL to skip it. Overwritten, not accumulated.
   dtype: F32, or the inputs' dtype (then accumulated in fp32 scratch and rounded
   once at the end). */
typedef struct engram_cce_grads {
    uint32_t struct_size;
    int32_t dtype;
    void* grad_e;               /* [n, d]                                            */
    void* grad_c;               /* [v, d]                                            */
    void* grad_bias;            /* [v]                                               */
} engram_cce_grads;

ENGRAM_API engram_status engram_cce_options_init(engram_cce_options* opts);
ENGRAM_API engram_status engram_cce_inputs_init(engram_cce_inputs* inputs);
ENGRAM_API engram_status engram_cce_grads_init(engram_cce_grads* grads);

/* Forward. opts NULL = defaults. loss: [n] (NONE) or [1] (SUM/MEAN), fp32.
   lse: NULL or [n] fp32 (kept for the backward). Unsharded inputs only. */
ENGRAM_API engram_status engram_cce_forward(engram_context* ctx, const engram_cce_inputs* in,
                                            const engram_cce_options* opts, float* loss,
                                            float* lse);

/* Backward: recomputes logits block by block. lse: [n] from the forward (global
   lse when sharded; required then), NULL to recompute it. grad_loss: upstream
   gradient, [n] for NONE or [1] for SUM/MEAN; NULL means 1. For a vocabulary
   shard the result grad_e is this shard's partial sum (all-reduce it). */
ENGRAM_API engram_status engram_cce_backward(engram_context* ctx, const engram_cce_inputs* in,
                                             const engram_cce_options* opts, const float* lse,
                                             const float* grad_loss,
                                             const engram_cce_grads* grads);

/* Forward and backward in one pass over the logits, for a caller that knows the
   upstream gradient already (grad_loss as in backward; NULL = 1). loss, lse as
   in forward (lse may be NULL). Unsharded inputs only. */
ENGRAM_API engram_status engram_cce_forward_backward(engram_context* ctx,
                                                     const engram_cce_inputs* in,
                                                     const engram_cce_options* opts,
                                                     const float* grad_loss, float* loss,
                                                     float* lse, const engram_cce_grads* grads);

/* Vocabulary-parallel forward, step 1, on each shard: per token, the shard's
   log-sum-exp, the target logit if the target lies in this shard (else 0), and
   the sum of the shard's logits (needed for label smoothing; may be NULL when
   label_smoothing is 0). All [n] fp32; ignored tokens get 0. */
ENGRAM_API engram_status engram_cce_shard_forward(engram_context* ctx,
                                                  const engram_cce_inputs* shard,
                                                  const engram_cce_options* opts,
                                                  float* shard_lse, float* target_logit,
                                                  float* logit_sum);

/* Step 2, anywhere: shard_lse [num_shards, n] gathered from all shards (e.g.
   all-gather), target_logit [n] and logit_sum [n] summed over shards (e.g.
   all-reduce SUM; logit_sum NULL if label_smoothing is 0). Writes the exact loss
   ([n] or [1] by reduction) and the global lse [n] (NULL to skip) that each
   shard then passes to engram_cce_backward. targets as in the inputs. */
ENGRAM_API engram_status engram_cce_shard_combine(engram_context* ctx, int64_t n,
                                                  int64_t num_shards, int64_t vocab_total,
                                                  const float* shard_lse,
                                                  const float* target_logit,
                                                  const float* logit_sum, const void* targets,
                                                  engram_dtype target_dtype,
                                                  const engram_cce_options* opts, float* loss,
                                                  float* lse);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ENGRAM_H */
