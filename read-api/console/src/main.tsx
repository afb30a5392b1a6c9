import { render } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { connectLive } from "./graphql.ts";
import { Layout } from "./components/layout.tsx";
import { useRoute } from "./router.ts";
import { OverviewPage } from "./pages/overview.tsx";
import { TasksPage } from "./pages/tasks.tsx";
import { TaskPage } from "./pages/task.tsx";
import { DeadLettersPage } from "./pages/dead-letters.tsx";
import { WorkersPage } from "./pages/workers.tsx";
import { QueuesPage } from "./pages/queues.tsx";
import { SchedulesPage } from "./pages/schedules.tsx";
import "./styles.css";

const TITLES: Record<string, string> = {
  "/": "Overview",
  "/tasks": "Tasks",
  "/dead-letters": "Dead letters",
  "/workers": "Workers",
  "/queues": "Queues",
  "/schedules": "Schedules",
};

/** Picks the page for the path; moves focus to the content after a navigation (keyboard, screen readers). */
function App() {
  const { path } = useRoute();
  const task = /^\/tasks\/([\w-]+)$/.exec(path);
  const loaded = useRef(false);
  useEffect(() => {
    document.title = `${task ? "Task" : (TITLES[path] ?? "Not found")} · Taskstream`;
    // Not on the first load: focus starts at the top of the page, where the skip link is.
    if (loaded.current) document.getElementById("main")?.focus({ preventScroll: true });
    loaded.current = true;
  }, [path]);
  let page;
  if (task) page = <TaskPage id={task[1]!} />;
  else if (path === "/") page = <OverviewPage />;
  else if (path === "/tasks") page = <TasksPage />;
  else if (path === "/dead-letters") page = <DeadLettersPage />;
  else if (path === "/workers") page = <WorkersPage />;
  else if (path === "/queues") page = <QueuesPage />;
  else if (path === "/schedules") page = <SchedulesPage />;
  else page = <p>No page at {path}.</p>;
  return <Layout>{page}</Layout>;
}

connectLive();
render(<App />, document.getElementById("app")!);
