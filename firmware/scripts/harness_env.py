"""PlatformIO pre-script of the Arduino and STM32Cube environments: what
platformio.ini cannot say.

* The generated model folder (src/model, written by `harness build`) goes on
  the include path of the project *and* of its libraries: runner_tflm in lib/
  includes harness_model.h. CPPPATH set here, before the libraries' build
  environments are cloned, reaches both.
* ``custom_fpu``: hard-float flags for compiling, assembling and linking. The
  stm32cube framework adds no FPU flags, and build_flags do not reach the
  link (platformio-core#594), where -mfloat-abi picks the matching libc/libm.
* ``custom_tflm_tree = yes``: lib/tflm is a TFLM tree from create_tflm_tree.py;
  its third-party headers must be found by every file that includes TFLM's
  (the tree's own library.json cannot export more than one include folder).
"""

import os

Import("env")  # noqa: F821  (SCons injects it)

project = env.subst("$PROJECT_DIR")  # noqa: F821
env.Append(CPPPATH=[os.path.join(project, "src", "model")])  # noqa: F821

fpu = env.GetProjectOption("custom_fpu", "")  # noqa: F821
if fpu:
    flags = ["-mfpu=" + fpu, "-mfloat-abi=hard"]
    env.Append(CCFLAGS=flags, ASFLAGS=flags, LINKFLAGS=flags)  # noqa: F821

if env.GetProjectOption("custom_tflm_tree", "no") == "yes":  # noqa: F821
    tree = os.path.join(project, "lib", "tflm")
    # The include folders TFLM's Makefile uses (-I. and the downloads), as the
    # tree lays them out. Not third_party/cmsis: the framework's CMSIS core
    # headers serve the ST device headers and CMSIS-NN alike.
    env.Append(CPPPATH=[tree] + [os.path.join(tree, "third_party", p) for p in (  # noqa: F821
        "flatbuffers/include", "gemmlowp", "ruy", "kissfft", "cmsis_nn", "cmsis_nn/Include")])
