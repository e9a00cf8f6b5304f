# controller.cmake - the controller benchmark program (bench/controllers/),
# built only on request and never run by ctest:
#   cmake --build build --target bench_controllers
#   bench/controllers/run.sh   (builds it, runs it and the Optuna comparison)
add_executable(bench_controllers EXCLUDE_FROM_ALL
               ${CMAKE_SOURCE_DIR}/bench/controllers/bench_controllers.c)
target_link_libraries(bench_controllers PRIVATE nas_controller nas_searchspace nas_core)
