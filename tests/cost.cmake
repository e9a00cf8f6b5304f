# cost.cmake - registers the PyTorch cross-check of `nas cost` (MACs and
# parameter counts must equal an independent count made with torch.nn and
# forward hooks; bench/cost_torch_check.py). It samples 10 archs from each
# shipped space (mobilenet, resnet, nb201) and adds 20 random archs covering
# every op (test_cost --gen). The interpreter is the first of python3 on PATH
# and /usr/bin/python3 (Debian's python3-torch) that imports torch; where
# none does, the script prints why and exits 77, which ctest reports as
# skipped (SKIP_RETURN_CODE).
find_package(Python3 COMPONENTS Interpreter)
set(NAS_TORCH_PYTHON "")
foreach(py ${Python3_EXECUTABLE} /usr/bin/python3)
  if(NOT NAS_TORCH_PYTHON AND EXISTS ${py})
    execute_process(COMMAND ${py} -c "import torch" RESULT_VARIABLE torch_rc
                    OUTPUT_QUIET ERROR_QUIET)
    if(torch_rc EQUAL 0)
      set(NAS_TORCH_PYTHON ${py})
    endif()
  endif()
endforeach()
if(NOT NAS_TORCH_PYTHON AND Python3_Interpreter_FOUND)
  set(NAS_TORCH_PYTHON ${Python3_EXECUTABLE})
endif()
if(NAS_TORCH_PYTHON)
  add_test(NAME cost_torch_check
           COMMAND ${NAS_TORCH_PYTHON} ${CMAKE_SOURCE_DIR}/bench/cost_torch_check.py
                   --nas $<TARGET_FILE:nas> --gen $<TARGET_FILE:test_cost>
                   --spaces ${CMAKE_SOURCE_DIR}/spaces --require-spaces
                   --workdir ${CMAKE_CURRENT_BINARY_DIR}/cost_torch_work --min 40)
  set_tests_properties(cost_torch_check PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600
                       ENVIRONMENT "OMP_NUM_THREADS=1")
else()
  message(STATUS "cost_torch_check: no python3, the PyTorch cross-check is not registered")
endif()
