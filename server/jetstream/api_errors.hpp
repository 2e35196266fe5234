#pragma once
// The JetStream API error table: nats-server's numbers (server/errors.json). Clients branch on
// err_code, so the numbers and texts are part of the protocol. `{...}` placeholders are filled
// by api_error::with().
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

namespace jb::jetstream {

struct api_error {
  int code = 0;             // HTTP-like
  std::uint16_t err_code = 0;
  std::string description;

  // Replaces the first {placeholder} in the description.
  [[nodiscard]] api_error with(std::string_view value) const;
  [[nodiscard]] boost::json::object to_json() const;
  [[nodiscard]] explicit operator bool() const noexcept { return err_code != 0; }
};

namespace errors {
// clang-format off
inline const api_error account_resources_exceeded{400, 10002, "resource limits exceeded for account"};
inline const api_error bad_request{400, 10003, "bad request"};
inline const api_error consumer_create{500, 10012, "{err}"};
inline const api_error consumer_name_exist{400, 10013, "consumer name already in use"};
inline const api_error consumer_not_found{404, 10014, "consumer not found"};
inline const api_error snapshot_deliver_subject_invalid{400, 10015, "deliver subject not valid"};
inline const api_error consumer_durable_name_not_in_subject{400, 10016, "consumer expected to be durable but no durable name set in subject"};
inline const api_error consumer_durable_name_not_match_subject{400, 10017, "consumer name in subject does not match durable name in request"};
inline const api_error consumer_durable_name_not_set{400, 10018, "consumer expected to be durable but a durable name was not set"};
inline const api_error consumer_ephemeral_with_durable_in_subject{400, 10019, "consumer expected to be ephemeral but detected a durable name set in subject"};
inline const api_error consumer_ephemeral_with_durable_name{400, 10020, "consumer expected to be ephemeral but a durable name was set in request"};
inline const api_error insufficient_resources{503, 10023, "insufficient resources"};
inline const api_error invalid_json{400, 10025, "invalid JSON: {err}"};
inline const api_error maximum_consumers_limit{400, 10026, "maximum consumers limit reached"};
inline const api_error maximum_streams_limit{400, 10027, "maximum number of streams reached"};
inline const api_error no_message_found{404, 10037, "no message found"};
inline const api_error not_enabled_for_account{503, 10039, "JetStream not enabled for account"};
inline const api_error sequence_not_found{400, 10043, "sequence {seq} not found"};
inline const api_error storage_resources_exceeded{500, 10047, "insufficient storage resources available"};
inline const api_error memory_resources_exceeded{500, 10028, "insufficient memory resources available"};
inline const api_error stream_max_bytes_required{400, 10113, "account requires a stream config to have max bytes set"};
inline const api_error stream_max_stream_bytes_exceeded{400, 10122, "stream max bytes exceeds account limit max stream bytes"};
inline const api_error consumer_max_ack_pending_exceeds{400, 10121, "consumer max ack pending exceeds system limit of {limit}"};
inline const api_error stream_invalid_config{500, 10052, "{err}"};
inline const api_error stream_message_exceeds_maximum{400, 10054, "message size exceeds maximum allowed"};
inline const api_error stream_mirror_not_updatable{400, 10055, "stream mirror configuration can not be updated"};
inline const api_error stream_mismatch{400, 10056, "stream name in subject does not match request"};
inline const api_error stream_msg_delete_failed{500, 10057, "{err}"};
inline const api_error stream_name_exist{400, 10058, "stream name already in use with a different configuration"};
inline const api_error stream_not_found{404, 10059, "stream not found"};
inline const api_error stream_not_match{400, 10060, "expected stream does not match"};
inline const api_error stream_restore{500, 10062, "restore failed: {err}"};
inline const api_error stream_snapshot{500, 10064, "snapshot failed: {err}"};
inline const api_error stream_subject_overlap{400, 10065, "subjects overlap with an existing stream"};
inline const api_error stream_wrong_last_msg_id{400, 10070, "wrong last msg ID: {id}"};
inline const api_error stream_wrong_last_sequence{400, 10071, "wrong last sequence: {seq}"};
inline const api_error stream_replicas_not_supported{500, 10074, "replicas > 1 not supported in non-clustered mode"};
inline const api_error not_enabled{503, 10076, "JetStream not enabled"};
inline const api_error stream_store_failed{503, 10077, "{err}"};
inline const api_error consumer_deliver_to_wildcards{400, 10079, "consumer deliver subject has wildcards"};
inline const api_error consumer_push_max_waiting{400, 10080, "consumer in push mode can not set max waiting"};
inline const api_error consumer_deliver_cycle{400, 10081, "consumer deliver subject forms a cycle"};
inline const api_error consumer_max_pending_ack_policy_required{400, 10082, "consumer requires ack policy for max ack pending"};
inline const api_error consumer_small_heartbeat{400, 10083, "consumer idle heartbeat needs to be >= 100ms"};
inline const api_error consumer_pull_with_rate_limit{400, 10086, "consumer in pull mode can not have rate limit set"};
inline const api_error consumer_hb_requires_push{400, 10088, "consumer idle heartbeat requires a push based consumer"};
inline const api_error consumer_fc_requires_push{400, 10089, "consumer flow control requires a push based consumer"};
inline const api_error consumer_invalid_policy{400, 10094, "{err}"};
inline const api_error consumer_wq_requires_explicit_ack{400, 10098, "workqueue stream requires explicit ack"};
inline const api_error consumer_wq_multiple_unfiltered{400, 10099, "multiple non-filtered consumers not allowed on workqueue stream"};
inline const api_error consumer_wq_consumer_not_unique{400, 10100, "filtered consumer not unique on workqueue stream"};
inline const api_error consumer_wq_consumer_not_deliver_all{400, 10101, "consumer must be deliver all on workqueue stream"};
inline const api_error consumer_name_too_long{400, 10102, "consumer name is too long, maximum allowed is {max}"};
inline const api_error consumer_bad_durable_name{400, 10103, "durable name can not contain '.', '*', '>'"};
inline const api_error consumer_existing_active{400, 10105, "consumer already exists and is still active"};
inline const api_error consumer_with_flow_control_needs_heartbeats{400, 10108, "consumer with flow control also needs heartbeats"};
inline const api_error stream_sealed{400, 10109, "invalid operation on sealed stream"};
inline const api_error stream_purge_failed{500, 10110, "{err}"};
inline const api_error stream_rollup_failed{500, 10111, "{err}"};
inline const api_error consumer_invalid_deliver_subject{400, 10112, "invalid push consumer deliver subject"};
inline const api_error consumer_max_request_expires_too_small{400, 10115, "consumer max request expires needs to be >= 1ms"};
inline const api_error consumer_max_deliver_backoff{400, 10116, "max deliver is required to be > length of backoff values"};
inline const api_error consumer_replicas_exceeds_stream{400, 10126, "consumer config replica count exceeds parent stream"};
inline const api_error consumer_name_contains_path_separators{400, 10127, "Consumer name can not contain path separators"};
inline const api_error stream_name_contains_path_separators{400, 10128, "Stream name can not contain path separators"};
inline const api_error stream_name_exist_restore_failed{400, 10130, "stream name already in use, cannot restore"};
inline const api_error consumer_create_filter_subject_mismatch{400, 10131, "Consumer create request did not match filtered subject from create subject"};
inline const api_error consumer_create_durable_and_name_mismatch{400, 10132, "Consumer Durable and Name have to be equal if both are provided"};
inline const api_error consumer_duplicate_filter_subjects{400, 10136, "consumer cannot have both FilterSubject and FilterSubjects specified"};
inline const api_error consumer_multiple_filters_not_allowed{400, 10137, "consumer with multiple subject filters cannot use subject based API"};
inline const api_error consumer_overlapping_subject_filters{400, 10138, "consumer subject filters cannot overlap"};
inline const api_error consumer_empty_filter{400, 10139, "consumer filter in FilterSubjects cannot be empty"};
inline const api_error consumer_already_exists{400, 10148, "consumer already exists"};
inline const api_error consumer_does_not_exist{400, 10149, "consumer does not exist"};
inline const api_error stream_wrong_last_sequence_constant{400, 10164, "wrong last sequence"};
inline const api_error message_ttl_invalid{400, 10165, "invalid per-message TTL"};
inline const api_error message_ttl_disabled{400, 10166, "per-message TTL is disabled"};
inline const api_error message_incr_disabled{400, 10168, "message counters is disabled"};
inline const api_error message_incr_missing{400, 10169, "message counter increment is missing"};
inline const api_error message_incr_payload{400, 10170, "message counter has payload"};
inline const api_error message_incr_invalid{400, 10171, "message counter increment is invalid"};
inline const api_error message_counter_broken{400, 10172, "message counter is broken"};
inline const api_error atomic_publish_disabled{400, 10174, "atomic publish is disabled"};
inline const api_error atomic_publish_missing_seq{400, 10175, "atomic publish sequence is missing"};
inline const api_error atomic_publish_incomplete_batch{400, 10176, "atomic publish batch is incomplete"};
inline const api_error atomic_publish_invalid_batch_id{400, 10179, "atomic publish batch ID is invalid"};
inline const api_error atomic_publish_too_large{400, 10199, "atomic publish batch is too large"};
inline const api_error atomic_publish_too_many_inflight{400, 10211, "atomic publish too many inflight"};
inline const api_error stream_mirror_with_first_seq{400, 10143, "stream mirrors can not have first sequence configured"};
inline const api_error consumer_pull_requires_ack{400, 10084, "consumer in pull mode requires explicit ack policy on workqueue stream"};
inline const api_error stream_transform_invalid{400, 10156, "stream transform: {err}"};
inline const api_error consumer_priority_policy_without_group{400, 10159, "Setting PriorityPolicy requires at least one PriorityGroup to be set"};
inline const api_error consumer_invalid_priority_group{400, 10160, "Provided priority group does not exist for this consumer"};
inline const api_error consumer_empty_group_name{400, 10161, "Group name cannot be an empty string"};
inline const api_error consumer_invalid_group_name{400, 10162, "Valid priority group name must match A-Z, a-z, 0-9, -_/=)+ and may not exceed 16 characters"};
inline const api_error consumer_push_with_priority_group{400, 10178, "priority groups can not be used with push consumers"};
inline const api_error consumer_priority_group_with_policy_none{400, 10196, "consumer can not have priority groups when policy is none"};
inline const api_error consumer_pinned_ttl_without_priority_policy_none{400, 10197, "PinnedTTL cannot be set when PriorityPolicy is none"};
inline const api_error consumer_ack_wait_negative{400, 10183, "consumer ack wait needs to be positive"};
inline const api_error consumer_backoff_negative{400, 10184, "consumer backoff needs to be positive"};
inline const api_error required_api_level{412, 10185, "JetStream minimum api level required"};
inline const api_error stream_expected_last_seq_per_subject_invalid{400, 10193, "missing sequence for expected last sequence per subject"};
inline const api_error stream_external_api_overlap{400, 10021, "stream external api prefix {prefix} must not overlap with {subject}"};
inline const api_error stream_external_del_prefix_overlaps{400, 10022, "stream external delivery prefix {prefix} overlaps with stream subject {subject}"};
inline const api_error stream_invalid_external_delivery_subj{400, 10024, "stream external delivery prefix {prefix} must not contain wildcards"};
inline const api_error mirror_max_message_size_too_big{400, 10030, "stream mirror must have max message size >= source"};
inline const api_error mirror_with_sources{400, 10031, "stream mirrors can not also contain other sources"};
inline const api_error mirror_with_subjects{400, 10034, "stream mirrors can not contain subjects"};
inline const api_error source_max_message_size_too_big{400, 10046, "stream source must have max message size >= target"};
inline const api_error stream_create{500, 10049, "{err}"};
inline const api_error source_duplicate_detected{400, 10140, "duplicate source configuration detected"};
inline const api_error source_invalid_stream_name{400, 10141, "sourced stream name is invalid"};
inline const api_error mirror_invalid_stream_name{400, 10142, "mirrored stream name is invalid"};
inline const api_error source_multiple_filters_not_allowed{400, 10144, "source with multiple subject transforms cannot also have a single subject filter"};
inline const api_error source_invalid_subject_filter{400, 10145, "source transform source: {err}"};
inline const api_error source_invalid_transform_destination{400, 10146, "source transform: {err}"};
inline const api_error source_overlapping_subject_filters{400, 10147, "source filters can not overlap"};
inline const api_error mirror_multiple_filters_not_allowed{400, 10150, "mirror with multiple subject transforms cannot also have a single subject filter"};
inline const api_error mirror_invalid_subject_filter{400, 10151, "mirror transform source: {err}"};
inline const api_error mirror_overlapping_subject_filters{400, 10152, "mirror subject filters can not overlap"};
inline const api_error mirror_invalid_transform_destination{400, 10154, "mirror transform: {err}"};
inline const api_error mirror_with_atomic_publish{400, 10198, "stream mirrors can not also use atomic publishing"};
// Message schedules (ADR-51).
inline const api_error mirror_with_msg_schedules{400, 10186, "stream mirrors can not also schedule messages"};
inline const api_error source_with_msg_schedules{400, 10187, "stream source can not also schedule messages"};
inline const api_error message_schedules_disabled{400, 10188, "message schedules is disabled"};
inline const api_error message_schedules_pattern_invalid{400, 10189, "message schedules pattern is invalid"};
inline const api_error message_schedules_target_invalid{400, 10190, "message schedules target is invalid"};
inline const api_error message_schedules_ttl_invalid{400, 10191, "message schedules invalid per-message TTL"};
inline const api_error message_schedules_rollup_invalid{400, 10192, "message schedules invalid rollup"};
inline const api_error message_schedules_source_invalid{400, 10203, "message schedules source is invalid"};
inline const api_error message_schedules_scheduler_invalid{400, 10212, "message schedules invalid scheduler"};
inline const api_error message_schedules_time_zone_invalid{400, 10223, "message schedules time zone is invalid"};
inline const api_error mirror_with_counters{400, 10173, "stream mirrors can not also calculate counters"};
// clang-format on
}  // namespace errors

}  // namespace jb::jetstream
