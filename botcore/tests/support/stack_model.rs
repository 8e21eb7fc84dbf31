//! The reference model of the stack property test (`stack_model.rs`): Bot Builder v3's stack
//! rules for the test's two-step waterfalls, written independently of botcore's driver.
//! [`Model::user_says`] and [`Model::proactive`] return what the bot should say;
//! [`Model::ids`] is the stack it should store.

#[derive(Clone, Debug)]
struct ModelFrame {
    id: String,
    /// The waterfall step the dialog is at.
    step: usize,
}

/// A v3 `IDialogResult`: `resumed`, `response`, `childId`.
#[derive(Clone, Debug)]
struct ModelResult {
    resumed: &'static str,
    response: Option<String>,
    child_id: Option<String>,
}

impl ModelResult {
    fn new(resumed: &'static str, response: Option<&str>) -> Self {
        Self {
            resumed,
            response: response.map(str::to_owned),
            child_id: None,
        }
    }
}

/// One user's stack under v3's rules, and what the bot says during the current action.
#[derive(Clone, Debug, Default)]
pub(crate) struct Model {
    stack: Vec<ModelFrame>,
    /// Whether the user ever wrote (proactive dialogs need that).
    consented: bool,
    /// What the bot says during the current action.
    out: Vec<String>,
}

impl Model {
    pub(crate) fn ids(&self) -> Vec<String> {
        self.stack.iter().map(|f| format!("*:{}", f.id)).collect()
    }

    fn say(&mut self, line: String) {
        self.out.push(line);
    }

    /// A user message: v3 `routeToActiveDialog` — the root dialog begins on an empty stack,
    /// else the dialog on top gets the reply, and a waterfall restarts at step 0.
    pub(crate) fn user_says(&mut self, text: &str) -> Vec<String> {
        self.consented = true;
        match self.stack.last_mut() {
            None => self.begin("/"),
            Some(top) => {
                top.step = 0;
                let me = top.id.clone();
                self.step_zero(&me, text);
            }
        }
        std::mem::take(&mut self.out)
    }

    /// A proactive dialog: Interrupt pushes it on top of whatever is there; Replace (v3
    /// `bot.beginDialog`) clears the stack first. Refused before the user ever wrote.
    pub(crate) fn proactive(&mut self, id: &str, replace: bool) -> Option<Vec<String>> {
        if !self.consented {
            return None;
        }
        if replace {
            self.stack.clear();
        }
        self.begin(id);
        Some(std::mem::take(&mut self.out))
    }

    /// v3 `beginDialog`: push, run step 0 with the (absent) arguments.
    fn begin(&mut self, id: &str) {
        self.stack.push(ModelFrame {
            id: id.to_owned(),
            step: 0,
        });
        self.say(format!("{id}: begun"));
    }

    fn step_zero(&mut self, me: &str, text: &str) {
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.as_slice() {
            ["begin", x] => {
                self.say(format!("{me}: beginning {x}"));
                self.begin(x);
            }
            ["replace", x] => {
                // v3 `replaceDialog`: pop without resuming the parent, then begin.
                self.say(format!("{me}: replacing with {x}"));
                self.stack.pop();
                self.begin(x);
            }
            ["end"] => {
                // v3 `endDialog()`: the parent resumes with `{ completed, response: true }`.
                self.say(format!("{me}: ending"));
                self.end_with_result(ModelResult::new("completed", Some("true")));
            }
            ["cancel"] => {
                self.say(format!("{me}: canceling"));
                self.cancel_from(self.stack.len() - 1);
            }
            ["cancel", x] => {
                self.say(format!("{me}: canceling {x}"));
                // The newest frame of `x` and everything above it. (v3 throws when `x` is not
                // on the stack; botcore documents a no-op instead.)
                if let Some(at) = self.stack.iter().rposition(|f| f.id == *x) {
                    self.cancel_from(at);
                }
            }
            ["next"] => {
                // v3 `next()` (the step's `skip`): resumes the waterfall with `forward`.
                self.say(format!("{me}: next"));
                self.resume(ModelResult::new("forward", Some("skipped")));
            }
            ["finish"] => {
                self.say(format!("{me}: finishing"));
                self.resume(ModelResult::new("forward", Some("finish")));
            }
            ["reset"] => {
                self.say(format!("{me}: resetting"));
                self.stack.clear();
                self.begin("/");
            }
            ["quit"] => {
                self.say(format!("{me}: bye"));
                self.stack.clear();
            }
            _ => self.say(format!("{me}: got {text}")),
        }
    }

    /// v3 `endDialogWithResult`: `childId` is always the dialog that ends; pop, resume the
    /// parent.
    fn end_with_result(&mut self, mut result: ModelResult) {
        let ended = self.stack.pop().expect("ending with an empty stack");
        result.child_id = Some(ended.id);
        self.resume(result);
    }

    /// v3 `cancelDialog`: cut the stack at `at`; the dialog below resumes `canceled` with the
    /// canceled dialog as `childId`.
    fn cancel_from(&mut self, at: usize) {
        let child = self.stack[at].id.clone();
        self.stack.truncate(at);
        let mut result = ModelResult::new("canceled", None);
        result.child_id = Some(child);
        self.resume(result);
    }

    /// v3 waterfall `dialogResumed` (any reason but back/reprompt): the next step, or past
    /// the last step `endDialogWithResult(r)`. Nothing happens on an empty stack.
    fn resume(&mut self, result: ModelResult) {
        let Some(top) = self.stack.last_mut() else {
            return;
        };
        top.step += 1;
        if top.step >= 2 {
            self.end_with_result(result);
            return;
        }
        let me = top.id.clone();
        self.say(format!(
            "{me}: resumed {} from {} with {}",
            result.resumed,
            result.child_id.as_deref().unwrap_or("nobody"),
            result.response.as_deref().unwrap_or("nothing")
        ));
        if result.response.as_deref() == Some("finish") {
            self.resume(ModelResult::new("forward", None));
        }
    }
}
