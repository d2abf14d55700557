#pragma once
// rotor_dnssec_bench's query-path part: what a signed answer costs against an
// unsigned one, per kind of answer, through answer_query (no network), in
// the thread's CPU time. The zone is signed in-process by ldns (ECDSA P-256,
// NSEC), as ldns-signzone would, and served as a pre-signed zone.
// Thread-safety: one thread. Errors: a setup failure (ldns, a temp file) or
// an answer other than the row expects throws std::runtime_error.

#include <cstddef>
#include <string>

namespace rotor::bench {

struct AnswerCostOptions {
  size_t queries = 200000;  // answer_query calls per row and round
  size_t rounds = 15;       // the best round counts
  // Only the rows whose text contains this (and their baselines); empty:
  // every row. For profiling one kind of answer under callgrind.
  std::string only;
};

// Prints the table and the verdict against the 1.3x goal; returns 0.
int print_signed_answer_costs(const AnswerCostOptions& options);

// The memory the signed answers of `array_count` arrays (8 instances each,
// dnssec::sign_array) take in a snapshot, from the process's RSS growth.
void print_array_signature_memory(size_t array_count);

}  // namespace rotor::bench
