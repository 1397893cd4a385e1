/* K-quant quantizers (Q2_K..Q6_K), internal to src/model: vc_quantize_row
 * calls these one 256-element super-block at a time. */
#ifndef VLLMC_QUANT_K_H
#define VLLMC_QUANT_K_H

#include <stdint.h>

/* x[256] -> one block (84, 110, 144, 176, 210 bytes) */
void vc_quantize_block_q2_k(const float *x, uint8_t *block);
void vc_quantize_block_q3_k(const float *x, uint8_t *block);
void vc_quantize_block_q4_k(const float *x, uint8_t *block);
void vc_quantize_block_q5_k(const float *x, uint8_t *block);
void vc_quantize_block_q6_k(const float *x, uint8_t *block);

#endif
