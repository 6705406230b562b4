#include "core_threads.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace AscendC::emu {
namespace {

class CoreThreadPool {
 public:
  void Run(std::vector<std::function<void()>> jobs) {
    std::mutex doneMu;
    std::condition_variable doneCv;
    size_t left = jobs.size();
    {
      std::lock_guard<std::mutex> g(mu_);
      // Every queued job needs a thread of its own: a job waiting in the queue behind a core that
      // waits for it would deadlock.
      const size_t spare = free_ - queue_.size();
      for (size_t i = spare; i < jobs.size(); ++i) {
        std::thread([this] { Serve(); }).detach();
        ++free_;
      }
      for (auto& job : jobs)
        queue_.push_back([&, job = std::move(job)] {
          job();
          std::lock_guard<std::mutex> d(doneMu);
          if (--left == 0) doneCv.notify_all();
        });
    }
    hasJob_.notify_all();
    std::unique_lock<std::mutex> d(doneMu);
    doneCv.wait(d, [&] { return left == 0; });
  }

 private:
  void Serve() {
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      hasJob_.wait(l, [&] { return !queue_.empty(); });
      std::function<void()> job = std::move(queue_.front());
      queue_.pop_front();
      --free_;
      l.unlock();
      job();
      l.lock();
      ++free_;
    }
  }

  std::mutex mu_;
  std::condition_variable hasJob_;
  std::deque<std::function<void()>> queue_;
  size_t free_ = 0;  // threads not running a job (waiting, or about to take a queued one)
};

}  // namespace

void RunOnCoreThreads(std::vector<std::function<void()>> jobs) {
  static auto* pool = new CoreThreadPool;  // leaked on purpose: its threads outlive static destruction
  pool->Run(std::move(jobs));
}

}  // namespace AscendC::emu
