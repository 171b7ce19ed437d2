from workers import Response, WorkflowEntrypoint


class PythonWorkflowStarter(WorkflowEntrypoint):
    async def run(self, event, step):


        @step.do('step1')
        async def step_1():
            # does stuff
            print('executing step1')


        @step.do('step2')
        async def step_2():
            # does stuff
            print('executing step2')


        await step_1()
        await step_2()


async def on_fetch(request, env):
    await env.MY_WORKFLOW.create()
    return Response("Hello world!")
