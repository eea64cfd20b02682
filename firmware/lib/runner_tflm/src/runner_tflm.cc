// The TFLM runner. Kept apart from every board file: Arduino.h's macros (abs,
// min, max, ...) break TFLM's headers, so no file here includes it.
#include "runner_tflm.h"

#include <string.h>

#include <new>

#include "harness_model.h"
#include "harness_model_ops.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace {

// Static storage, constructed in place by runner_tflm(): the firmware runs no
// C++ global constructors (the QEMU startup does not call them).
alignas(HarnessOpResolver) unsigned char resolver_storage[sizeof(HarnessOpResolver)];
alignas(tflite::MicroInterpreter) unsigned char interpreter_storage[sizeof(tflite::MicroInterpreter)];
tflite::MicroInterpreter *interpreter;
TfLiteTensor *input_tensor;

// Uploads land here, not in the arena: TFLM's memory plan reuses the input
// tensor's bytes for later activations, so the input is copied in before every
// run (inside the timed loop; a few instructions per 4 input bytes).
alignas(16) uint8_t input_copy[HARNESS_MODEL_INPUT_BYTES];

hp_tensor input_desc;
hp_tensor output_desc;
hp_runner runner;
const char *failure = "runner_tflm() was not called";

// TfLiteType -> TFLite schema TensorType number (what the protocol carries).
bool schema_type(TfLiteType type, uint8_t *out)
{
    switch (type) {
    case kTfLiteFloat32: *out = 0; return true;
    case kTfLiteFloat16: *out = 1; return true;
    case kTfLiteInt32: *out = 2; return true;
    case kTfLiteUInt8: *out = 3; return true;
    case kTfLiteInt64: *out = 4; return true;
    case kTfLiteBool: *out = 6; return true;
    case kTfLiteInt16: *out = 7; return true;
    case kTfLiteInt8: *out = 9; return true;
    default: return false;
    }
}

const char *describe(const TfLiteTensor *tensor, hp_tensor *desc)
{
    if (!schema_type(tensor->type, &desc->dtype)) {
        return "a model input or output has a tensor type the protocol cannot describe";
    }
    if (tensor->dims == nullptr || tensor->dims->size > HP_MAX_DIMS) {
        return "a model input or output has more dimensions than HP_MAX_DIMS";
    }
    desc->ndims = static_cast<uint8_t>(tensor->dims->size);
    for (int i = 0; i < tensor->dims->size; i++) {
        desc->dims[i] = tensor->dims->data[i];
    }
    // Per-tensor affine parameters; 0 and 0 when the tensor is not quantized.
    desc->scale = tensor->quantization.type == kTfLiteAffineQuantization ? tensor->params.scale
                                                                        : 0.0f;
    desc->zero_point = desc->scale != 0.0f ? tensor->params.zero_point : 0;
    return nullptr;
}

const char *invoke(void *ctx)
{
    (void)ctx;
    if (failure != nullptr) {
        return failure;
    }
    memcpy(input_tensor->data.raw, input_copy, HARNESS_MODEL_INPUT_BYTES);
    return interpreter->Invoke() == kTfLiteOk ? nullptr : "MicroInterpreter::Invoke failed";
}

const char *set_up(uint8_t *arena, size_t arena_bytes)
{
    const tflite::Model *model = tflite::GetModel(harness_model_tflite);
    if (model->version() != TFLITE_SCHEMA_VERSION) {
        return "the embedded model's schema version is not the one TFLM was built for";
    }
    HarnessOpResolver *resolver = new (resolver_storage) HarnessOpResolver();
    if (harness_model_add_ops(*resolver) != kTfLiteOk) {
        return "registering the model's ops failed";
    }
    interpreter = new (interpreter_storage) tflite::MicroInterpreter(model, *resolver, arena,
                                                                     arena_bytes);
    if (interpreter->AllocateTensors() != kTfLiteOk) {
        return "AllocateTensors failed: arena too small or an op's Prepare failed (see log)";
    }
    if (interpreter->inputs_size() != 1 || interpreter->outputs_size() != 1) {
        return "the model must have one input and one output";
    }
    input_tensor = interpreter->input(0);
    const TfLiteTensor *output = interpreter->output(0);
    if (input_tensor->bytes != HARNESS_MODEL_INPUT_BYTES) {
        return "the input tensor's size differs from HARNESS_MODEL_INPUT_BYTES";
    }
    const char *why = describe(input_tensor, &input_desc);
    if (why == nullptr) {
        why = describe(output, &output_desc);
    }
    if (why != nullptr) {
        return why;
    }
    runner.input = input_copy;
    runner.input_bytes = HARNESS_MODEL_INPUT_BYTES;
    // The arena is written only by Invoke, so the output stays valid until the next run.
    runner.output = output->data.uint8;
    runner.output_bytes = static_cast<uint32_t>(output->bytes);
    runner.inputs = &input_desc;
    runner.n_inputs = 1;
    runner.outputs = &output_desc;
    runner.n_outputs = 1;
    runner.arena_used = static_cast<uint32_t>(interpreter->arena_used_bytes());
    return nullptr;
}

}  // namespace

extern "C" const hp_runner *runner_tflm(uint8_t *arena, size_t arena_bytes)
{
    runner = hp_runner{};
    runner.model_hash = harness_model_sha256;
    runner.invoke = invoke;
    failure = arena == nullptr ? "no tensor arena (allocation failed)" : set_up(arena, arena_bytes);
    if (failure != nullptr) {  // describe nothing the host could upload to
        runner = hp_runner{};
        runner.model_hash = harness_model_sha256;
        runner.invoke = invoke;
    }
    return &runner;
}
