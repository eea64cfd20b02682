// The TFLM runner. Kept apart from every board file: Arduino.h's macros (abs,
// min, max, ...) break TFLM's headers, so no file here includes it.
#include "runner_tflm.h"

#include <string.h>

#include <array>
#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

#include "harness_model.h"
#include "harness_model_ops.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

// Ops PROFILE can time (u64 counts each, in RAM); a bigger model refuses PROFILE.
#ifndef RUNNER_TFLM_MAX_PROFILE_OPS
#define RUNNER_TFLM_MAX_PROFILE_OPS 256
#endif

namespace {

// ---- per-op profiling (PROFILE), compiled in, off until asked for ----
//
// TFLM's own hook, MicroProfilerInterface, is called by the interpreter only in
// builds with error strings: release builds (TF_LITE_STRIP_ERROR_STRINGS, ours)
// compile it out. So the interpreter is given registrations whose invoke is a
// trampoline: it calls the kernel's invoke and, while a profile runs, reads the
// board's counter around it. Off, it costs a call and a test per op.
// The registration and parser types as the resolver interface names them: TFLM
// renamed them over time (TfLiteRegistration, TFLMRegistration), and the boards'
// TFLM copies are of different dates.
using Registration = std::remove_cv_t<std::remove_pointer_t<decltype(
    std::declval<const tflite::MicroOpResolver &>().FindOp(tflite::BuiltinOperator_ADD))>>;
using ParseFn = decltype(std::declval<const tflite::MicroOpResolver &>().GetOpDataParser(
    tflite::BuiltinOperator_ADD));
using InvokeFn = decltype(Registration::invoke);
constexpr size_t kOpKinds = HARNESS_MODEL_OP_COUNT;

InvokeFn kernel_invoke[kOpKinds];         // the kernel's invoke per op kind
const hp_board *profiling_board;          // non-null while a profile runs
uint32_t op_index;                        // ops run so far in this inference
uint64_t op_cycles[RUNNER_TFLM_MAX_PROFILE_OPS];

TfLiteStatus timed(InvokeFn kernel, TfLiteContext *context, TfLiteNode *node)
{
    const hp_board *b = profiling_board;
    if (b == nullptr) {
        return kernel(context, node);
    }
    uint32_t start = b->read_cycles(b->ctx);
    TfLiteStatus status = kernel(context, node);
    uint32_t end = b->read_cycles(b->ctx);
    if (op_index < RUNNER_TFLM_MAX_PROFILE_OPS) {
        op_cycles[op_index] += end - start;
    }
    op_index++;
    return status;
}

template <size_t Kind>
TfLiteStatus timed_invoke(TfLiteContext *context, TfLiteNode *node)
{
    return timed(kernel_invoke[Kind], context, node);
}

template <size_t... Kinds>
constexpr std::array<InvokeFn, sizeof...(Kinds)> trampolines(std::index_sequence<Kinds...>)
{
    return {timed_invoke<Kinds>...};
}

constexpr std::array<InvokeFn, kOpKinds> kTrampolines =
    trampolines(std::make_index_sequence<kOpKinds>());

// Hands the interpreter a copy of each registration with the trampoline as invoke.
class TimingOpResolver : public tflite::MicroOpResolver {
public:
    explicit TimingOpResolver(const tflite::MicroOpResolver &inner) : inner_(inner) {}

    const Registration *FindOp(tflite::BuiltinOperator op) const override
    {
        return wrap(inner_.FindOp(op));
    }

    const Registration *FindOp(const char *op) const override
    {
        return wrap(inner_.FindOp(op));
    }

    ParseFn GetOpDataParser(tflite::BuiltinOperator op) const override
    {
        return inner_.GetOpDataParser(op);
    }

private:
    // FindOp is const in the interface; the copies are made on first use.
    const Registration *wrap(const Registration *kernel) const
    {
        if (kernel == nullptr) {
            return nullptr;
        }
        for (size_t i = 0; i < used_; i++) {
            if (kernels_[i] == kernel) {
                return &wrapped_[i];
            }
        }
        if (used_ == kOpKinds) {  // cannot happen: the resolver holds kOpKinds kinds
            return kernel;
        }
        kernels_[used_] = kernel;
        kernel_invoke[used_] = kernel->invoke;
        wrapped_[used_] = *kernel;
        wrapped_[used_].invoke = kTrampolines[used_];
        return &wrapped_[used_++];
    }

    const tflite::MicroOpResolver &inner_;
    mutable const Registration *kernels_[kOpKinds] = {};
    mutable Registration wrapped_[kOpKinds] = {};
    mutable size_t used_ = 0;
};

// Static storage, constructed in place by runner_tflm(): the firmware runs no
// C++ global constructors (the QEMU startup does not call them).
alignas(HarnessOpResolver) unsigned char resolver_storage[sizeof(HarnessOpResolver)];
alignas(TimingOpResolver) unsigned char timing_storage[sizeof(TimingOpResolver)];
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
uint32_t model_ops;   // operators of the main subgraph, in the order Invoke runs them

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

// PROFILE: `runs` inferences with every op timed (the trampolines above).
const char *profile(void *ctx, const hp_board *board, uint16_t runs, const uint64_t **ops,
                    uint16_t *n_ops, uint64_t *total)
{
    if (failure != nullptr) {
        return failure;
    }
    if (model_ops > RUNNER_TFLM_MAX_PROFILE_OPS) {
        return "the model has more ops than RUNNER_TFLM_MAX_PROFILE_OPS: PROFILE cannot time them";
    }
    memset(op_cycles, 0, sizeof op_cycles);
    *total = 0;
    const char *why = nullptr;
    profiling_board = board;
    for (uint16_t r = 0; r < runs && why == nullptr; r++) {
        op_index = 0;
        uint32_t start = board->read_cycles(board->ctx);
        why = invoke(ctx);
        uint32_t end = board->read_cycles(board->ctx);
        *total += end - start;
        if (why == nullptr && op_index != model_ops) {
            why = "an inference ran a different number of ops than the main subgraph has "
                  "(control flow ops are not profiled)";
        }
    }
    profiling_board = nullptr;
    *ops = op_cycles;
    *n_ops = static_cast<uint16_t>(model_ops);
    return why;
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
    const TimingOpResolver *timing = new (timing_storage) TimingOpResolver(*resolver);
    model_ops = model->subgraphs()->Get(0)->operators()->size();
    interpreter = new (interpreter_storage) tflite::MicroInterpreter(model, *timing, arena,
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
    runner.profile = profile;
    failure = arena == nullptr ? "no tensor arena (allocation failed)" : set_up(arena, arena_bytes);
    if (failure != nullptr) {  // describe nothing the host could upload to
        runner = hp_runner{};
        runner.model_hash = harness_model_sha256;
        runner.invoke = invoke;
        runner.profile = profile;
    }
    return &runner;
}
