#include "stream/embedded_broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

namespace vigil::stream {

struct EmbeddedBroker::Handles {
  rd_kafka_t* rk = nullptr;
  rd_kafka_mock_cluster_t* cluster = nullptr;

  ~Handles() {
    if (cluster != nullptr) rd_kafka_mock_cluster_destroy(cluster);
    if (rk != nullptr) rd_kafka_destroy(rk);
  }
};

EmbeddedBroker::EmbeddedBroker(std::unique_ptr<Handles> handles) : handles_(std::move(handles)) {
  bootstrap_ = rd_kafka_mock_cluster_bootstraps(handles_->cluster);
}

EmbeddedBroker::~EmbeddedBroker() = default;

std::unique_ptr<EmbeddedBroker> EmbeddedBroker::start(int brokers, std::string& error) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The handle only anchors the cluster; keep it quiet.
  if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    error = errstr;
    rd_kafka_conf_destroy(conf);
    return nullptr;
  }
  auto handles = std::make_unique<Handles>();
  handles->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (handles->rk == nullptr) {
    error = errstr;
    return nullptr;
  }
  handles->cluster = rd_kafka_mock_cluster_new(handles->rk, brokers);
  if (handles->cluster == nullptr) {
    error = "rd_kafka_mock_cluster_new failed";
    return nullptr;
  }
  return std::unique_ptr<EmbeddedBroker>(new EmbeddedBroker(std::move(handles)));
}

bool EmbeddedBroker::createTopic(const std::string& name, int partitions, std::string& error) {
  const rd_kafka_resp_err_t err =
      rd_kafka_mock_topic_create(handles_->cluster, name.c_str(), partitions, 1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    error = rd_kafka_err2str(err);
    return false;
  }
  return true;
}

}  // namespace vigil::stream
