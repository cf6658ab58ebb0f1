// mesos_go_conformance drives mesos-sim with an independent Mesos client:
// Debian's mesos-go (v1 HTTP scheduler API), over protobuf and over JSON.
// It plays a framework's whole life — subscribe, offers, launch, status
// updates and their acknowledgements, kill, decline, reconcile, the master's
// 400 answers to malformed calls, teardown, and a removed framework's
// resubscription — and checks each answer against what a Mesos master gives
// (the rule and its source are named with each check).
//
// Usage: mesos_go_conformance http://127.0.0.1:PORT [protobuf|json ...]
// Prints one line per check; exits 1 on the first failed check.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/apierrors"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

type run struct {
	codec  string
	ctx    context.Context
	caller calls.Caller
	events chan *scheduler.Event
	ended  chan error
	fwID   string
}

func fail(format string, a ...interface{}) {
	fmt.Printf("FAIL "+format+"\n", a...)
	os.Exit(1)
}

func (r *run) ok(format string, a ...interface{}) {
	fmt.Printf("ok   %s: %s\n", r.codec, fmt.Sprintf(format, a...))
}

// next returns the next event that is not a heartbeat, or fails after d.
func (r *run) next(what string, d time.Duration) *scheduler.Event {
	deadline := time.After(d)
	for {
		select {
		case e := <-r.events:
			if e.GetType() == scheduler.Event_HEARTBEAT {
				continue
			}
			return e
		case err := <-r.ended:
			fail("%s: waiting for %s, the stream ended: %v", r.codec, what, err)
		case <-deadline:
			fail("%s: no %s within %v", r.codec, what, d)
		}
	}
}

// subscribe opens the event stream; the decoded events go to r.events.
func (r *run) subscribe(info *mesos.FrameworkInfo) {
	call := calls.Subscribe(info)
	if info.ID != nil {
		call = call.With(calls.Framework(info.ID.Value))
	}
	resp, err := r.caller.Call(r.ctx, call)
	if err != nil {
		fail("%s: SUBSCRIBE: %v", r.codec, err)
	}
	r.events = make(chan *scheduler.Event, 64)
	r.ended = make(chan error, 1)
	go func() {
		defer resp.Close()
		for {
			var e scheduler.Event
			if err := resp.Decode(&e); err != nil {
				r.ended <- err
				return
			}
			r.events <- &e
		}
	}()
}

func (r *run) call(c *scheduler.Call) error {
	resp, err := r.caller.Call(r.ctx, c.With(calls.Framework(r.fwID)))
	if resp != nil {
		resp.Close()
	}
	return err
}

func (r *run) mustCall(what string, c *scheduler.Call) {
	if err := r.call(c); err != nil {
		fail("%s: %s: %v", r.codec, what, err)
	}
}

// update waits for the next status update of task, acknowledges it when it
// carries a uuid and returns it.
func (r *run) update(task string) mesos.TaskStatus {
	for {
		e := r.next("an UPDATE of "+task, 30*time.Second)
		switch e.GetType() {
		case scheduler.Event_OFFERS:
			ids := []mesos.OfferID{}
			for _, o := range e.GetOffers().GetOffers() {
				ids = append(ids, o.ID)
			}
			r.mustCall("DECLINE", calls.Decline(ids...).With(calls.RefuseSeconds(time.Hour)))
			continue
		case scheduler.Event_UPDATE:
		default:
			fail("%s: waiting for an UPDATE of %s, got %v", r.codec, task, e.GetType())
		}
		st := e.GetUpdate().GetStatus()
		if st.TaskID.Value != task {
			fail("%s: an update of %s while waiting for %s", r.codec, st.TaskID.Value, task)
		}
		if len(st.UUID) > 0 {
			r.mustCall("ACKNOWLEDGE", calls.Acknowledge(st.AgentID.GetValue(), task, st.UUID))
		}
		return st
	}
}

func scalar(name string, v float64) mesos.Resource {
	t := mesos.SCALAR
	return mesos.Resource{Name: name, Type: &t, Scalar: &mesos.Value_Scalar{Value: v}}
}

func launch(r *run, o mesos.Offer, task string) {
	cmd := "sleep 1"
	ti := mesos.TaskInfo{
		Name:      task,
		TaskID:    mesos.TaskID{Value: task},
		AgentID:   o.AgentID,
		Resources: []mesos.Resource{scalar("cpus", 0.5), scalar("mem", 64)},
		Command:   &mesos.CommandInfo{Value: &cmd},
	}
	accept := calls.Accept(calls.OfferOperations{calls.OpLaunch(ti)}.WithOffers(o.ID))
	r.mustCall("ACCEPT", accept.With(calls.RefuseSeconds(0)))
}

func (r *run) life(url string) {
	media := codecs.MediaTypeProtobuf
	if r.codec == "json" {
		media = codecs.MediaTypeJSON
	}
	cli := httpcli.New(
		httpcli.Endpoint(url+"/api/v1/scheduler"),
		httpcli.Codec(codecs.ByMediaType[media]),
	)
	r.caller = httpsched.NewCaller(cli)
	var cancel context.CancelFunc
	r.ctx, cancel = context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	failover := 0.0
	info := &mesos.FrameworkInfo{
		User:            "root",
		Name:            "mesos-go-conformance-" + r.codec,
		FailoverTimeout: &failover,
		Capabilities: []mesos.FrameworkInfo_Capability{
			{Type: mesos.FrameworkInfo_Capability_PARTITION_AWARE},
		},
	}

	// Subscribe: SUBSCRIBED first, with the framework id, a heartbeat
	// interval and the master's info (Mesos docs, scheduler-http-api.md).
	r.subscribe(info)
	e := r.next("SUBSCRIBED", 10*time.Second)
	if e.GetType() != scheduler.Event_SUBSCRIBED {
		fail("%s: first event %v, want SUBSCRIBED", r.codec, e.GetType())
	}
	sub := e.GetSubscribed()
	r.fwID = sub.FrameworkID.GetValue()
	if r.fwID == "" || sub.GetHeartbeatIntervalSeconds() <= 0 || sub.MasterInfo == nil {
		fail("%s: SUBSCRIBED without framework id, heartbeat interval or master_info: %v",
			r.codec, sub)
	}
	r.ok("SUBSCRIBED framework %s, heartbeat every %.0f s, master %s", r.fwID,
		sub.GetHeartbeatIntervalSeconds(), sub.MasterInfo.GetID())

	// Offers: one per agent, each with cpus and mem.
	e = r.next("OFFERS", 10*time.Second)
	if e.GetType() != scheduler.Event_OFFERS || len(e.GetOffers().GetOffers()) == 0 {
		fail("%s: want OFFERS, got %v", r.codec, e.GetType())
	}
	offers := e.GetOffers().GetOffers()
	for _, o := range offers {
		if o.FrameworkID.Value != r.fwID {
			fail("%s: offer %s for framework %s", r.codec, o.ID.Value, o.FrameworkID.Value)
		}
		if c, ok := resourcesCPUs(o.Resources); !ok || c <= 0 {
			fail("%s: offer %s without cpus", r.codec, o.ID.Value)
		}
	}
	r.ok("%d offers", len(offers))

	// A malformed ACKNOWLEDGE (uuid not 16 bytes) is 400 (Mesos
	// src/master/validation.cpp, scheduler::call::validate).
	err := r.call(calls.Acknowledge(offers[0].AgentID.Value, "t", []byte("abc")))
	if !apierrors.CodeMalformedRequest.Matches(err) {
		fail("%s: ACKNOWLEDGE with a 3-byte uuid: want 400, got %v", r.codec, err)
	}
	r.ok("ACKNOWLEDGE with a 3-byte uuid is 400")

	// A call naming another framework is 400 (src/master/http.cpp: the
	// framework is not subscribed).
	resp, err := r.caller.Call(r.ctx, calls.Revive().With(calls.Framework("no-such-framework")))
	if resp != nil {
		resp.Close()
	}
	if !apierrors.CodeMalformedRequest.Matches(err) {
		fail("%s: REVIVE for an unknown framework: want 400, got %v", r.codec, err)
	}
	r.ok("a call for an unknown framework is 400")

	// Launch on the first offer, decline the rest.
	task := "conformance-" + r.codec + "-1"
	launch(r, offers[0], task)
	if len(offers) > 1 {
		ids := []mesos.OfferID{}
		for _, o := range offers[1:] {
			ids = append(ids, o.ID)
		}
		r.mustCall("DECLINE", calls.Decline(ids...).With(calls.RefuseSeconds(time.Hour)))
	}
	// The task runs and finishes; each update carries a uuid to acknowledge
	// and the next one waits for that acknowledgement.
	seen := []string{}
	for {
		st := r.update(task)
		seen = append(seen, st.GetState().String())
		if terminal(st.GetState()) || len(seen) > 5 {
			break
		}
	}
	// a command executor sends STARTING, then RUNNING (src/launcher/executor.cpp)
	if strings.Join(seen, " ") != "TASK_STARTING TASK_RUNNING TASK_FINISHED" {
		fail("%s: updates %v, want STARTING, RUNNING, FINISHED", r.codec, seen)
	}
	r.ok("task %s: %s", task, strings.Join(seen, " -> "))

	// A finished, acknowledged task's id may be used again; this time
	// the task is killed while it runs.
	r.mustCall("REVIVE", calls.Revive())
	for {
		e = r.next("OFFERS after REVIVE", 20*time.Second)
		if e.GetType() == scheduler.Event_OFFERS {
			break
		}
	}
	offers = e.GetOffers().GetOffers()
	launch(r, offers[0], task)
	for st := r.update(task); st.GetState() != mesos.TASK_RUNNING; st = r.update(task) {
		if terminal(st.GetState()) {
			fail("%s: relaunched %s ended %v", r.codec, task, st.GetState())
		}
	}
	r.mustCall("KILL", calls.Kill(task, offers[0].AgentID.Value))
	st := r.update(task)
	if st.GetState() != mesos.TASK_KILLED {
		fail("%s: after KILL got %v, want TASK_KILLED", r.codec, st.GetState())
	}
	r.ok("the id used again, the task killed: TASK_KILLED")

	// Explicit reconciliation of a task the master does not know, on a
	// registered agent: TASK_GONE for a partition-aware framework, without
	// a uuid (src/master/master.cpp, Master::reconcile).
	r.mustCall("RECONCILE", calls.Reconcile(calls.ReconcileTasks(
		map[string]string{"never-launched": offers[0].AgentID.Value})))
	st = r.update("never-launched")
	if st.GetState() != mesos.TASK_GONE || len(st.UUID) != 0 ||
		st.GetReason() != mesos.REASON_RECONCILIATION {
		fail("%s: reconcile of an unknown task: %v uuid %d bytes reason %v, want TASK_GONE, none, REASON_RECONCILIATION",
			r.codec, st.GetState(), len(st.UUID), st.GetReason())
	}
	r.ok("reconciling an unknown task: TASK_GONE, no uuid")

	// Teardown: the framework is removed and its stream ends.
	r.mustCall("TEARDOWN", &scheduler.Call{Type: scheduler.Call_TEARDOWN})
	select {
	case <-r.ended:
	case <-time.After(10 * time.Second):
		fail("%s: the stream did not end after TEARDOWN", r.codec)
	}
	r.ok("TEARDOWN ends the stream")

	// A removed framework's id is refused: an ERROR event, then the end.
	info.ID = &mesos.FrameworkID{Value: r.fwID}
	r.subscribe(info)
	e = r.next("ERROR", 10*time.Second)
	if e.GetType() != scheduler.Event_ERROR ||
		!strings.Contains(e.GetError().GetMessage(), "removed") {
		fail("%s: resubscribing a removed framework: %v %v, want ERROR", r.codec,
			e.GetType(), e.GetError().GetMessage())
	}
	r.ok("resubscribing the removed framework: ERROR %q", e.GetError().GetMessage())
}

func resourcesCPUs(rs []mesos.Resource) (float64, bool) {
	for _, r := range rs {
		if r.Name == "cpus" && r.Scalar != nil {
			return r.Scalar.Value, true
		}
	}
	return 0, false
}

func main() {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintln(os.Stderr, "usage: mesos_go_conformance http://127.0.0.1:PORT [protobuf|json ...]")
		os.Exit(2)
	}
	codecsWanted := os.Args[2:]
	if len(codecsWanted) == 0 {
		codecsWanted = []string{"protobuf", "json"}
	}
	for _, c := range codecsWanted {
		if c != "protobuf" && c != "json" {
			fmt.Fprintf(os.Stderr, "unknown codec %q (protobuf or json)\n", c)
			os.Exit(2)
		}
		r := &run{codec: c}
		r.life(os.Args[1])
	}
	fmt.Println("all checks passed")
}

func terminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_STAGING, mesos.TASK_STARTING, mesos.TASK_RUNNING, mesos.TASK_KILLING:
		return false
	}
	return true
}
