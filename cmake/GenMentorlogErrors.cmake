# GenMentorlogErrors.cmake — writes libmentorlog's public error constants
# (MENTORLOG_ERR_<NAME> = the MLPROTO_ERR_<NAME> value) from the one error
# table, protocol/include/mlproto/errors.def. Run at build time:
#
#   cmake -DERRORS_DEF=.../errors.def -DOUT=.../mentorlog_errors.h -P GenMentorlogErrors.cmake
#
# client-core/CMakeLists.txt runs it whenever errors.def or this script
# changes.
# tests/client/test_client.c checks every constant against errors.def.
cmake_minimum_required(VERSION 3.18)

if(NOT ERRORS_DEF OR NOT OUT)
  message(FATAL_ERROR "GenMentorlogErrors.cmake: set ERRORS_DEF and OUT")
endif()

file(STRINGS "${ERRORS_DEF}" lines)
set(body "")
set(count 0)
set(names "")
foreach(line IN LISTS lines)
  if(line MATCHES "^/\\* --- (.*) --- \\*/$")
    string(APPEND body "\n  /* ${CMAKE_MATCH_1} */\n")
  elseif(line MATCHES "^MLPROTO_ERROR\\(")
    if(NOT line MATCHES "^MLPROTO_ERROR\\(([A-Z0-9_]+), *(-[0-9]+), *([0-9]+), *\"(.*)\"\\)$")
      message(FATAL_ERROR "${ERRORS_DEF}: cannot parse: ${line}")
    endif()
    set(name "${CMAKE_MATCH_1}")
    set(value "${CMAKE_MATCH_2}")
    set(http "${CMAKE_MATCH_3}")
    set(msg "${CMAKE_MATCH_4}")
    if(name IN_LIST names)
      message(FATAL_ERROR "${ERRORS_DEF}: ${name} appears twice")
    endif()
    list(APPEND names "${name}")
    string(REPLACE "*/" "* /" msg "${msg}")
    string(REPLACE "\\\"" "\"" msg "${msg}")
    string(APPEND body "  MENTORLOG_ERR_${name} = ${value}, /* ${http}: ${msg} */\n")
    math(EXPR count "${count} + 1")
  endif()
endforeach()
string(REGEX REPLACE "^\n" "" body "${body}")
if(count EQUAL 0)
  message(FATAL_ERROR "${ERRORS_DEF}: no MLPROTO_ERROR entries")
endif()

set(text "/*
 * mentorlog/mentorlog_errors.h — GENERATED at build time from
 * protocol/include/mlproto/errors.def by cmake/GenMentorlogErrors.cmake.
 * Do not edit; include mentorlog/mentorlog.h instead.
 *
 * Every code a libmentorlog function returns, by its stable name: the value
 * of MENTORLOG_ERR_<NAME> is that of MLPROTO_ERR_<NAME> and never changes
 * (docs/errors.md). The comment gives the HTTP status the server answers
 * with for the code and the text of mentorlog_strerror().
 */
#ifndef MENTORLOG_MENTORLOG_ERRORS_H
#define MENTORLOG_MENTORLOG_ERRORS_H

/* ${count} codes. */
typedef enum mentorlog_error {
${body}} mentorlog_error;

#endif
")

file(WRITE "${OUT}" "${text}")
