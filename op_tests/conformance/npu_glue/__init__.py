"""Helpers of the NPU glue check (op_tests/conformance/test_npu_glue.py): fetch torch_npu's headers,
write the aclrtlaunch_<kernel>.h headers CANN's ascendc_library would generate, run g++ -fsyntax-only."""
