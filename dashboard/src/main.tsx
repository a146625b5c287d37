import { render } from "preact";
import "./styles.css";
import { App } from "./app";
import { bootstrapToken } from "./api";

bootstrapToken();
render(<App />, document.getElementById("app")!);
