#include "runner_checksum.h"

#include "hp_crc32.h"
#include "hp_wire.h"

static uint8_t input[RUNNER_CHECKSUM_INPUT_BYTES];
static uint8_t output[RUNNER_CHECKSUM_OUTPUT_BYTES];

/* No model is embedded: the hash is SHA-256 of zero bytes, which no .tflite has. */
static const uint8_t sha256_of_nothing[32] = {
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8,
    0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
    0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
};

static const hp_tensor inputs[] = {
    {.dtype = 9 /* int8 */, .ndims = 4, .dims = {1, 96, 96, 3}, .scale = 0.0f, .zero_point = 0},
};
static const hp_tensor outputs[] = {
    {.dtype = 3 /* uint8 */, .ndims = 1, .dims = {8}, .scale = 0.0f, .zero_point = 0},
};

static uint32_t byte_sum(void)
{
    uint32_t sum = 0;
    for (uint32_t i = 0; i < RUNNER_CHECKSUM_INPUT_BYTES; i++) {
        sum += input[i];
    }
    return sum;
}

static const char *invoke(void *ctx)
{
    (void)ctx;
    uint32_t sum = byte_sum();
    hp_store_u32(output, hp_crc32(input, RUNNER_CHECKSUM_INPUT_BYTES));
    hp_store_u32(output + 4, sum);
    return NULL;
}

/* Two "ops" for PROFILE, as harness/dut/device.py's ChecksumRunner has them:
 * the byte sum, then the CRC. */
static uint64_t op_cycles[2];

static const char *profile(void *ctx, const hp_board *b, uint16_t runs,
                           const uint64_t **ops, uint16_t *n_ops, uint64_t *total)
{
    (void)ctx;
    op_cycles[0] = op_cycles[1] = 0;
    *total = 0;
    for (uint16_t r = 0; r < runs; r++) {
        uint32_t t0 = b->read_cycles(b->ctx);
        uint32_t sum = byte_sum();
        uint32_t t1 = b->read_cycles(b->ctx);
        hp_store_u32(output, hp_crc32(input, RUNNER_CHECKSUM_INPUT_BYTES));
        uint32_t t2 = b->read_cycles(b->ctx);
        hp_store_u32(output + 4, sum);
        op_cycles[0] += t1 - t0;
        op_cycles[1] += t2 - t1;
        *total += (uint32_t)(t2 - t0);
    }
    *ops = op_cycles;
    *n_ops = 2;
    return NULL;
}

static const hp_runner runner = {
    .input = input,
    .input_bytes = RUNNER_CHECKSUM_INPUT_BYTES,
    .output = output,
    .output_bytes = RUNNER_CHECKSUM_OUTPUT_BYTES,
    .inputs = inputs,
    .n_inputs = 1,
    .outputs = outputs,
    .n_outputs = 1,
    .arena_used = 0,
    .model_hash = sha256_of_nothing,
    .invoke = invoke,
    .profile = profile,
    .ctx = NULL,
};

const hp_runner *runner_checksum(void)
{
    return &runner;
}
