#include <stdio.h>
#include <stdlib.h>
#include <engram.h>

/* Loss and gradients of a 4-token batch over a 10-word vocabulary, hidden size 8. */
int main(void) {
    enum { N = 4, D = 8, V = 10 };
    float e[N * D], c[V * D], loss, lse[N], grad_e[N * D], grad_c[V * D];
    int64_t targets[N] = {1, 7, 3, -100};            /* -100: ignored (the default ignore_index) */
    for (int i = 0; i < N * D; ++i) e[i] = (float)((i * 37) % 11) / 11.0f - 0.5f;
    for (int i = 0; i < V * D; ++i) c[i] = (float)((i * 53) % 13) / 13.0f - 0.5f;

    engram_context* ctx;
    if (engram_context_create(ENGRAM_BACKEND_CPU, 0, &ctx) != ENGRAM_OK) {
        fprintf(stderr, "%s\n", engram_last_error());
        return 1;
    }
    engram_cce_inputs in;
    engram_cce_inputs_init(&in);                      /* f32 inputs, i64 targets */
    in.n = N; in.d = D; in.v = V; in.e = e; in.c = c; in.targets = targets;
    if (engram_cce_forward(ctx, &in, NULL, &loss, lse) != ENGRAM_OK) {  /* NULL: default options (mean) */
        fprintf(stderr, "%s\n", engram_last_error());
        return 1;
    }
    engram_cce_grads g;
    engram_cce_grads_init(&g);                        /* f32 gradients */
    g.grad_e = grad_e; g.grad_c = grad_c;
    if (engram_cce_backward(ctx, &in, NULL, lse, NULL, &g) != ENGRAM_OK) {  /* NULL grad_loss: 1 */
        fprintf(stderr, "%s\n", engram_last_error());
        return 1;
    }
    printf("engram %s: mean loss %.6f, grad_e[0] %.6f\n", engram_version(), loss, grad_e[0]);
    engram_context_destroy(ctx);
    return 0;
}
