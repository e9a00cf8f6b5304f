# Golden files of the search-space compiler (included by tests/CMakeLists.txt).
# `nas space show --json` of every shipped space (spaces/*.nas) and of the small
# spaces tests/golden/searchspace/*.nas, and the diagnostics (stderr of
# `nas space check`) of tests/golden/searchspace/bad_*.nas, are diffed exactly
# against tests/golden/searchspace/<name>.txt. To accept a deliberate change:
#   cmake -DNAS=build/nas -DMODE=show -DDIR=spaces -DFILE=nb201.nas \
#         -DGOLDEN=tests/golden/searchspace/nb201.txt -DUPDATE=1 \
#         -P tests/golden/searchspace/compare.cmake
set(SS_GOLDEN_DIR ${CMAKE_CURRENT_SOURCE_DIR}/golden/searchspace)
foreach(name mobilenet resnet nb201 hpt)
  add_test(NAME golden_space_${name}
           COMMAND ${CMAKE_COMMAND} -DNAS=$<TARGET_FILE:nas> -DMODE=show
                   -DDIR=${CMAKE_SOURCE_DIR}/spaces -DFILE=${name}.nas
                   -DGOLDEN=${SS_GOLDEN_DIR}/${name}.txt -P ${SS_GOLDEN_DIR}/compare.cmake)
endforeach()
file(GLOB ss_golden_spaces CONFIGURE_DEPENDS ${SS_GOLDEN_DIR}/*.nas)
foreach(f ${ss_golden_spaces})
  get_filename_component(name ${f} NAME_WE)
  if(name MATCHES "^bad_")
    set(mode check)
  else()
    set(mode show)
  endif()
  add_test(NAME golden_space_${name}
           COMMAND ${CMAKE_COMMAND} -DNAS=$<TARGET_FILE:nas> -DMODE=${mode}
                   -DDIR=${SS_GOLDEN_DIR} -DFILE=${name}.nas
                   -DGOLDEN=${SS_GOLDEN_DIR}/${name}.txt -P ${SS_GOLDEN_DIR}/compare.cmake)
endforeach()
