"""PlatformIO pre-script of the Arduino and STM32Cube environments: what
platformio.ini cannot say.

* The generated model folder (src/model, written by `harness build`) goes on
  the include path of the project *and* of its libraries: runner_tflm in lib/
  includes harness_model.h. CPPPATH set here, before the libraries' build
  environments are cloned, reaches both.
* ``custom_fpu``: hard-float flags for compiling, assembling and linking. The
  stm32cube framework adds no FPU flags, and build_flags do not reach the
  link (platformio-core#594), where -mfloat-abi picks the matching libc/libm.
* ``custom_tflm_arch``: lib/tflm is a TFLM tree from create_tflm_tree.py for
  that TARGET_ARCH (`harness build` makes it from $TFLM_DIR);
  its third-party headers (support/tflm_include_dirs.txt) must be found by
  every file that includes TFLM's (a library.json exports one folder only).
"""

import os

Import("env")  # noqa: F821  (SCons injects it)

project = env.subst("$PROJECT_DIR")  # noqa: F821
env.Append(CPPPATH=[os.path.join(project, "src", "model")])  # noqa: F821

fpu = env.GetProjectOption("custom_fpu", "")  # noqa: F821
if fpu:
    flags = ["-mfpu=" + fpu, "-mfloat-abi=hard"]
    env.Append(CCFLAGS=flags, ASFLAGS=flags, LINKFLAGS=flags)  # noqa: F821

if env.GetProjectOption("custom_tflm_arch", ""):  # noqa: F821
    tree = os.path.join(project, "lib", "tflm")
    with open(os.path.join(project, "support", "tflm_include_dirs.txt")) as listing:
        folders = [line.strip() for line in listing if line.strip()[:1] not in ("", "#")]
    env.Append(CPPPATH=[os.path.normpath(os.path.join(tree, f)) for f in folders])  # noqa: F821
